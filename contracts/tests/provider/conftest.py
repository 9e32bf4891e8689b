"""Providers as real servers on loopback, each on its own throwaway database.

Verifications run one after another in this process (pact-python's helper servers are
not thread-safe): never with xdist workers sharing these fixtures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from catalog_service.adapters.migrate import upgrade
from catalog_service.bootstrap import engine_for, http_app
from catalog_service.settings import Settings
from contracts.databases import scratch_database
from contracts.paths import ledger_path
from contracts.servers import MonolithServer, UvicornThread, migrate_monolith
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from orders_service.adapters.migrate import upgrade as upgrade_orders
from orders_service.bootstrap import engine_for as orders_engine_for
from orders_service.bootstrap import http_app as orders_http_app
from orders_service.settings import Settings as OrdersSettings
from sqlalchemy import Engine

# The facade's signing key stands in as a throwaway pair: the service under verification
# gets the public half, the verification signs staff tokens with the private one.
IDENTITY_KEY = ed25519.Ed25519PrivateKey.generate()
IDENTITY_HEADER = "X-Strangler-Identity"


def identity_public_pem() -> str:
    public = IDENTITY_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


def staff_identity(settings: Settings) -> dict[str, str]:
    """The header the facade adds for a signed-in staff user, addressed to the service.

    Valid for ten minutes: one token covers a whole verification run.
    """
    now = int(time.time())
    claims = {"sub": "7", "staff": True, "scopes": ["catalog.change_product"], "iat": now,
              "exp": now + 600, "iss": settings.identity_issuer,
              "aud": settings.identity_audience}  # fmt: skip
    return {IDENTITY_HEADER: jwt.encode(claims, IDENTITY_KEY, algorithm="EdDSA")}


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
    settings: Settings


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
    settings = Settings(database_url=url, pool_min_size=1, pool_max_size=4,
                        identity_public_key=identity_public_pem())  # fmt: skip
    with UvicornThread(http_app(settings)) as base_url:
        yield CatalogProvider(base_url, engine, url, settings)


@pytest.fixture
def staff_headers(catalog_provider: CatalogProvider) -> dict[str, str]:
    return staff_identity(catalog_provider.settings)


@pytest.fixture(scope="session")
def orders_database() -> Iterator[tuple[str, Engine]]:
    with scratch_database("pact_orders") as url:
        upgrade_orders(url)
        engine = orders_engine_for(url, pool_size=2)
        try:
            yield url, engine
        finally:
            engine.dispose()


@dataclass
class OrdersProvider:
    url: str
    engine: Engine
    settings: OrdersSettings
    users: dict[str, int]
    """API token -> user id: what the facade stand-in signs identities for."""


@pytest.fixture(scope="session")
def orders_provider(
    orders_database: tuple[str, Engine], monolith_url: str
) -> Iterator[OrdersProvider]:
    """The orders service in a thread, behind the facade's identity bridge (stand-in), with
    the real monolith (the session's gunicorn) as its saga participant."""
    from contracts.orders_states import FacadeIdentity

    url, engine = orders_database
    settings = OrdersSettings(database_url=url, pool_size=2, monolith_url=monolith_url,
                              identity_public_key=identity_public_pem(),
                              saga_step_timeout=5, saga_deadline=20)  # fmt: skip
    users: dict[str, int] = {}
    app = FacadeIdentity(orders_http_app(settings), key=IDENTITY_KEY, settings=settings,
                         users=users)  # fmt: skip
    with UvicornThread(app) as base_url:
        yield OrdersProvider(base_url, engine, settings, users)
