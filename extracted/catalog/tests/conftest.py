"""Real PostgreSQL for the catalog tests: a throwaway service database (migrated) and a
throwaway legacy database with the monolith's catalog tables, on the server the root
pytest plugin exported as DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from catalog_service.adapters.migrate import upgrade
from catalog_service.bootstrap import engine_for
from sqlalchemy import Engine, text
from strangler.testing.databases import ScratchDatabases

LEGACY_DDL = """
CREATE TABLE shop_category (
    id serial PRIMARY KEY,
    name varchar(100) NOT NULL,
    slug varchar(100) NOT NULL UNIQUE,
    parent_id integer NULL REFERENCES shop_category (id),
    sort_order integer NOT NULL DEFAULT 0
);
CREATE TABLE shop_product (
    id serial PRIMARY KEY,
    sku varchar(32) NOT NULL UNIQUE,
    nm varchar(200) NOT NULL,
    descr text NOT NULL DEFAULT '',
    cat_id integer NULL REFERENCES shop_category (id) ON DELETE SET NULL,
    prc numeric(10, 2) NOT NULL,
    cur char(3) NOT NULL DEFAULT 'EUR',
    st char(1) NOT NULL DEFAULT 'A',
    qty integer NOT NULL DEFAULT 0,
    attrs text NOT NULL DEFAULT '',
    wt integer NULL,
    created timestamp with time zone NOT NULL,
    updated timestamp with time zone NOT NULL
);
"""


@pytest.fixture(scope="session")
def catalog_url(scratch_databases: ScratchDatabases) -> str:
    url = scratch_databases.create("catalog_test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def legacy_url(scratch_databases: ScratchDatabases) -> str:
    url = scratch_databases.create("legacy_test")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(LEGACY_DDL)
    return url


@pytest.fixture(scope="session")
def engine(catalog_url: str) -> Iterator[Engine]:
    engine = engine_for(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clean(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(text(
            "TRUNCATE products, categories, inbox, inbox_applied_version, inbox_deliveries,"
            " parked_events, sync_applied_events, dead_letters,"
            " backfill_checkpoints"
        ))  # fmt: skip
    return engine


@pytest.fixture
def legacy(legacy_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        # like Django with USE_TZ=False: naive values are Europe/Berlin wall-clock times
        conn.execute("SET TIME ZONE 'Europe/Berlin'")
        conn.execute("TRUNCATE shop_product, shop_category RESTART IDENTITY CASCADE")
        yield conn
