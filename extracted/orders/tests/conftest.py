"""Real PostgreSQL for the orders tests (a throwaway, migrated service database on the
server the root pytest plugin exported as DATABASE_URL) and real HTTP participants."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from orders_service.adapters.migrate import upgrade
from orders_service.bootstrap import engine_for, http_app
from orders_service.settings import Settings
from sqlalchemy import Engine, text
from strangler.testing.databases import ScratchDatabases

from .fakes import FakeMonolith, ServerThread, catalog_app

KEY = ed25519.Ed25519PrivateKey.generate()
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
TABLES = (
    "order_events, order_summaries, saga_steps, sagas, gateway_authorisations,"
    " gateway_cards, outbox, outbox_aggregate_version, backfill_checkpoints, dead_letters"
)


def token(user_id: int = 42, *, staff: bool = False, aud: str = "orders") -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "staff": staff,
        "scopes": [],
        "iat": now,
        "exp": now + 60,
        "iss": "strangler-facade",
        "aud": aud,
    }
    return jwt.encode(claims, KEY, algorithm="EdDSA")


@pytest.fixture(scope="session")
def orders_url(scratch_databases: ScratchDatabases) -> str:
    url = scratch_databases.create("orders_test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(orders_url: str) -> Iterator[Engine]:
    engine = engine_for(orders_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clean(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))
    return engine


@pytest.fixture(scope="session")
def monolith_server() -> Iterator[tuple[FakeMonolith, ServerThread, ServerThread]]:
    fake = FakeMonolith()
    fake.reset()
    server = ServerThread(fake.app()).start()
    catalog = ServerThread(catalog_app(fake)).start()
    yield fake, server, catalog
    server.stop()
    catalog.stop()


@pytest.fixture
def monolith(monolith_server: tuple[FakeMonolith, ServerThread, ServerThread]) -> FakeMonolith:
    fake = monolith_server[0]
    fake.reset()
    return fake


@pytest.fixture
def settings(orders_url: str, monolith_server: Any) -> Settings:
    _, server, catalog = monolith_server
    return Settings(
        database_url=orders_url,
        monolith_url=server.url,
        catalog_url=catalog.url,
        identity_public_key=PUBLIC_PEM,
        saga_step_timeout=2.0,
        saga_deadline=10.0,
        saga_lease=30.0,
        saga_backoff_base=0.05,
        pool_size=4,
    )


class SyncClient:
    """A synchronous facade over httpx's in-process ASGI transport (no sockets, no ports)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._lifespan = app.router.lifespan_context(app)
        self._loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self._loop.close()


def make_client(settings: Settings) -> SyncClient:
    return SyncClient(http_app(settings))


@pytest.fixture
def client(clean: Engine, monolith: FakeMonolith, settings: Settings) -> Iterator[SyncClient]:
    c = make_client(settings)
    yield c
    c.close()
