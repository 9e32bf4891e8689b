"""/v2: API composition with the catalog (partial when it is down), staff status changes,
health, metrics, and the committed OpenAPI document."""

from __future__ import annotations

from typing import Any

from orders_service.entrypoints.cli import OPENAPI_PATH, openapi_document
from orders_service.settings import Settings

from .conftest import SyncClient, make_client, token
from .fakes import FakeMonolith, free_port
from .test_checkout import checkout


def test_v2_order_is_composed_with_current_catalog_data(
    client: SyncClient, monolith: FakeMonolith
) -> None:
    monolith.put_cart("s1", {1: 1})
    order_id = checkout(client, user=42).json()["id"]
    body: dict[str, Any] = client.get(
        f"/v2/orders/{order_id}", headers={"X-Strangler-Identity": token(42)}
    ).json()
    assert body["partial"] is False
    assert body["status"] == "paid"
    assert body["total"] == {"amount_minor": 1250, "currency": "EUR", "amount": "12.50"}
    assert body["lines"][0]["name"] == "Mug"
    assert body["lines"][0]["product"]["name"] == "Mug (current)"
    page = client.get("/v2/orders", headers={"X-Strangler-Identity": token(42)}).json()
    assert [o["id"] for o in page["items"]] == [order_id]


def test_v2_order_is_partial_when_the_catalog_is_down(
    clean: Any, monolith: FakeMonolith, settings: Settings
) -> None:
    down = make_client(
        settings.model_copy(update={"catalog_url": f"http://127.0.0.1:{free_port()}"})
    )
    try:
        monolith.put_cart("s1", {1: 1})
        order_id = checkout(down, user=42).json()["id"]
        resp = down.get(f"/v2/orders/{order_id}", headers={"X-Strangler-Identity": token(42)})
        assert resp.status_code == 200
        body = resp.json()
        assert body["partial"] is True
        assert body["lines"][0]["product"] is None
        assert body["lines"][0]["sku"] == "SKU-1"
    finally:
        down.close()


def test_staff_ship_and_deliver(client: SyncClient, monolith: FakeMonolith) -> None:
    monolith.put_cart("s1", {1: 1})
    order_id = checkout(client, user=42).json()["id"]
    url = f"/v2/orders/{order_id}/status"
    staff = {"X-Strangler-Identity": token(1, staff=True)}
    user = {"X-Strangler-Identity": token(42)}
    assert client.post(url, json={"status": "shipped"}, headers=user).status_code == 403
    assert client.post(url, json={"status": "delivered"}, headers=staff).status_code == 409
    assert client.post(url, json={"status": "shipped"}, headers=staff).json()["status"] == "shipped"
    assert client.post(url, json={"status": "bogus"}, headers=staff).status_code == 400
    done = client.post(url, json={"status": "delivered"}, headers=staff)
    assert done.json()["status"] == "delivered"
    legacy = client.get(f"/api/orders/{order_id}/", headers=user).json()
    assert legacy["status"] == "delivered"


def test_health_and_metrics(client: SyncClient, monolith: FakeMonolith) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    monolith.put_cart("s1", {1: 1})
    checkout(client)
    text = client.get("/metrics").text
    assert 'orders_sagas_total{outcome="completed"}' in text
    assert "orders_saga_step_seconds_bucket" in text
    assert "orders_sagas_in_flight 0.0" in text


def test_committed_openapi_matches_the_code() -> None:
    assert OPENAPI_PATH.read_text() == openapi_document(), (
        "extracted/orders/openapi.json is stale: run `uv run python -m orders_service openapi`"
    )
