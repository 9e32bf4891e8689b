"""Providers as real servers on loopback, each on its own throwaway database.

Verifications run one after another in this process (pact-python's helper servers are
not thread-safe): never with xdist workers sharing these fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from catalog_service.adapters.migrate import upgrade
from catalog_service.bootstrap import engine_for, http_app
from catalog_service.settings import Settings
from contracts.databases import scratch_database
from contracts.paths import ledger_path
from contracts.servers import MonolithServer, UvicornThread, migrate_monolith
from sqlalchemy import Engine


@pytest.fixture(scope="session")
def ledger() -> Path:
    return ledger_path()


@pytest.fixture(scope="session")
def monolith_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("monolith") / "gunicorn.log"
    with scratch_database("pact_monolith") as url:
        migrate_monolith(url)
        with MonolithServer(url, log=log) as base_url:
            yield base_url


@dataclass
class CatalogProvider:
    url: str
    engine: Engine
    database_url: str


@pytest.fixture(scope="session")
def catalog_database() -> Iterator[tuple[str, Engine]]:
    with scratch_database("pact_catalog") as url:
        upgrade(url)
        engine = engine_for(url, pool_size=2)
        try:
            yield url, engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def catalog_provider(catalog_database: tuple[str, Engine]) -> Iterator[CatalogProvider]:
    url, engine = catalog_database
    app = http_app(Settings(database_url=url, pool_min_size=1, pool_max_size=4))
    with UvicornThread(app) as base_url:
        yield CatalogProvider(base_url, engine, url)
