"""The service honours X-Strangler-Dry-Run: writes through WriteTransaction roll back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from catalog_service.bootstrap import http_app
from catalog_service.entrypoints.http.dry_run import WriteTransaction, dry_run_active
from catalog_service.settings import Settings
from fastapi import FastAPI

DRY = {"X-Strangler-Dry-Run": "1"}


class Client:
    """httpx over the app in-process, with its lifespan (the connection pool) running."""

    def __init__(self, app: FastAPI, peer: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._lifespan = app.router.lifespan_context(app)
        self._loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self._loop.close()


@pytest.fixture
def probe_table(catalog_url: str) -> Iterator[str]:
    with psycopg.connect(catalog_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS dry_run_probe (n integer)")
        conn.execute("TRUNCATE dry_run_probe")
    yield catalog_url
    with psycopg.connect(catalog_url, autocommit=True) as conn:
        conn.execute("DROP TABLE dry_run_probe")


def rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM dry_run_probe").fetchone()[0])  # type: ignore[index]


def make_app(url: str, **settings: Any) -> FastAPI:
    app = http_app(Settings(database_url=url, pool_min_size=1, pool_max_size=2, **settings))

    @app.post("/_probe/")
    async def write(conn: WriteTransaction) -> dict[str, Any]:
        await conn.execute("INSERT INTO dry_run_probe VALUES (1)")
        cur = await conn.execute("SELECT count(*) FROM dry_run_probe")
        row = await cur.fetchone()
        return {"rows": row[0] if row else 0, "dry_run": dry_run_active()}

    @app.post("/_untracked/")
    async def untracked() -> dict[str, str]:
        return {"wrote": "maybe"}

    return app


@pytest.fixture
def client(probe_table: str) -> Iterator[Client]:
    c = Client(make_app(probe_table), "127.0.0.1")
    yield c
    c.close()


def test_a_dry_run_write_answers_and_is_rolled_back(client: Client, probe_table: str) -> None:
    resp = client.request("POST", "/_probe/", headers=DRY)
    assert resp.status_code == 200
    assert resp.json() == {"rows": 1, "dry_run": True}  # the write ran...
    assert resp.headers["x-strangler-dry-run"] == "rolled-back"
    assert rows(probe_table) == 0  # ...and was undone
    resp = client.request("POST", "/_probe/")
    assert resp.json() == {"rows": 1, "dry_run": False}
    assert "x-strangler-dry-run" not in resp.headers
    assert rows(probe_table) == 1


def test_reads_run_as_they_are(client: Client) -> None:
    resp = client.request("GET", "/healthz", headers=DRY)
    assert resp.status_code == 200
    assert resp.headers["x-strangler-dry-run"] == "rolled-back"


def test_refused_for_endpoints_that_do_not_write_through_the_transaction(client: Client) -> None:
    resp = client.request("POST", "/_untracked/", headers=DRY)
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    assert "roll back" in resp.json()["detail"]


def test_refused_from_an_untrusted_peer(probe_table: str) -> None:
    c = Client(make_app(probe_table), "10.9.8.7")
    try:
        resp = c.request("POST", "/_probe/", headers={**DRY, "X-Forwarded-For": "127.0.0.1"})
        assert resp.status_code == 403
        assert resp.json()["status"] == 403
        assert rows(probe_table) == 0
    finally:
        c.close()
    trusting = Client(make_app(probe_table, dry_run_trusted_networks="10.9.0.0/16"), "10.9.8.7")
    try:
        assert trusting.request("POST", "/_probe/", headers=DRY).status_code == 200
        assert rows(probe_table) == 0
    finally:
        trusting.close()
