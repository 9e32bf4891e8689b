"""Catalog writes in the service (step 4): validation, the freeze, the outbox event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from acl.catalog.domain import Category
from catalog_service.bootstrap import http_app
from catalog_service.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from catalog_service.settings import Settings
from sqlalchemy import Engine, text

from .test_identity import KEY, public_pem, token

KITCHEN = Category(1, "Kitchen", "kitchen", None, 0, 1)


class Client:
    """Requests through httpx's ASGI transport on one private loop (the app's lifespan)."""

    def __init__(self, app: Any, headers: dict[str, str] | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._lifespan = app.router.lifespan_context(app)
        self._loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self._loop.close()


def freeze(engine: Engine, frozen: bool) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE catalog_write_freeze SET frozen = :f"), {"f": frozen})


@pytest.fixture
def client(clean: Engine, catalog_url: str) -> Iterator[Client]:
    with clean.begin() as conn:
        conn.execute(text("TRUNCATE outbox, outbox_aggregate_version"))
    with SqlAlchemyUnitOfWork(clean) as uow:
        uow.categories.upsert_many([KITCHEN])
        uow.commit()
    freeze(clean, False)
    app = http_app(Settings(database_url=catalog_url, pool_min_size=1, pool_max_size=2,
                            identity_public_key=public_pem(KEY)))  # fmt: skip
    try:
        test_client = Client(app, headers={"X-Strangler-Identity": token()})
        try:
            yield test_client
        finally:
            test_client.close()
    finally:
        freeze(clean, True)


def outbox(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT aggregate_id, version, event_type, payload, headers FROM outbox ORDER BY id"
        )))  # fmt: skip


NEW = {"sku": " mug-1 ", "name": "Mug", "price": {"amount": "12.50", "currency": "EUR"},
       "attributes": [{"key": "color", "value": "red"}], "category_id": 1}  # fmt: skip


def test_create_then_patch_writes_row_and_outbox_in_one_lineage(
    client: Client, clean: Engine
) -> None:
    created = client.post("/v2/products", json=NEW, headers={"X-Request-ID": "req-1"})
    assert created.status_code == 201, created.text
    body = created.json()
    pid = body["id"]
    assert pid >= 1_000_000_000
    assert (body["sku"], body["version"], body["stock"]) == ("MUG-1", 1, 0)
    assert body["category"]["slug"] == "kitchen"
    assert created.headers["location"] == f"/v2/products/{pid}"
    change = {"price": {"amount": "9.99", "currency": "EUR"}, "name": "Cup"}
    patched = client.patch(f"/v2/products/{pid}", json=change)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["version"], patched.json()["name"]) == (2, "Cup")
    assert patched.json()["price"]["amount_minor"] == 999
    events = outbox(clean)
    assert [(e.aggregate_id, e.version) for e in events] == [(str(pid), 1), (str(pid), 2)]
    assert events[0].event_type == "catalog.product.upserted.v1"
    assert events[0].headers["origin"] == "catalog"
    assert events[0].headers["causation_id"] == "req-1"
    row = events[1].payload["row"]
    assert (row["id"], row["sku"], row["nm"], row["prc"], row["attrs"]) == (
        pid, "MUG-1", "Cup", "9.99", "color=red")  # fmt: skip
    assert set(events[1].payload["changed"]) == {"nm", "prc", "cur", "updated"}
    assert client.get(f"/v2/products/{pid}").json()["version"] == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**NEW, "price": {"amount": "1.234", "currency": "EUR"}}, "price"),
        ({**NEW, "price": {"amount": "abc", "currency": "EUR"}}, "price"),
        ({**NEW, "price": {"amount": "-1", "currency": "EUR"}}, "price"),
        ({**NEW, "price": {"amount": "1", "currency": "XXX"}}, "price"),
        ({**NEW, "status": "gone"}, "status"),
        ({**NEW, "name": "  "}, "name"),
        ({**NEW, "category_id": 99}, "category_id"),
        ({**NEW, "attributes": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
         "attributes"),
        ({**NEW, "attributes": [{"key": "a=b", "value": "1"}]}, "attributes"),
        ({**NEW, "sku": "x" * 40}, "sku"),
        ({**NEW, "unknown": 1}, "unknown"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_problem_and_writes_nothing(
    client: Client, clean: Engine, payload: dict[str, Any], field: str
) -> None:
    response = client.post("/v2/products", json=payload)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert outbox(clean) == []


def test_patch_problems(client: Client, clean: Engine) -> None:
    assert client.patch("/v2/products/12345", json={"name": "x"}).status_code == 404
    pid = client.post("/v2/products", json=NEW).json()["id"]
    assert client.patch(f"/v2/products/{pid}", json={"name": None}).status_code == 400
    assert client.patch(f"/v2/products/{pid}", json=[1]).status_code == 400
    assert client.post("/v2/products", json={**NEW, "sku": "MUG-1"}).status_code == 409
    cleared = client.patch(f"/v2/products/{pid}", json={"category_id": None, "description": None})
    assert cleared.status_code == 200
    assert cleared.json()["category"] is None
    assert len(outbox(clean)) == 2


def test_frozen_writes_refuse_with_423_and_write_nothing(client: Client, clean: Engine) -> None:
    freeze(clean, True)
    response = client.post("/v2/products", json=NEW)
    assert response.status_code == 423
    assert response.json()["type"].endswith("/catalog-writes-frozen")
    assert outbox(clean) == []


def test_writes_are_for_staff_only(client: Client) -> None:
    anonymous = client.post("/v2/products", json=NEW, headers={"X-Strangler-Identity": ""})
    assert anonymous.status_code == 401
    shopper = client.post("/v2/products", json=NEW,
                          headers={"X-Strangler-Identity": token(staff=False)})  # fmt: skip
    assert shopper.status_code == 403
    elsewhere = {"X-Strangler-Identity": token(aud="monolith")}  # addressed to another service
    assert client.patch("/v2/products/1", json={"name": "x"}, headers=elsewhere).status_code == 401
