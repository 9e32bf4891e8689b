"""The checkout saga through the legacy endpoint: outcomes, problems, replays, sync events."""

from __future__ import annotations

from typing import Any

from acl.orders.legacy import order_from_sync_payload, order_to_legacy_json
from orders_service.adapters.read_model import OrderReads
from sqlalchemy import Engine, text

from .conftest import SyncClient, token
from .fakes import FakeMonolith, wait_until

GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000000000000002"
FUNDS_CARD = "4000000000009995"


def body(**changes: Any) -> dict[str, Any]:
    base = {
        "email": " ada@example.com ",
        "name": "Ada",
        "line1": "1 Way",
        "city": "Berlin",
        "zip": "10115",
        "country": "de",
        "card_number": GOOD_CARD,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def checkout(
    client: SyncClient,
    *,
    session: str = "s1",
    user: int | None = None,
    key: str | None = None,
    **changes: Any,
) -> Any:
    headers = {"Cookie": f"sessionid={session}"}
    if user is not None:
        headers["X-Strangler-Identity"] = token(user)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/api/checkout/", json=body(**changes), headers=headers)


def problem(resp: Any, status: int, slug: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = resp.json()
    assert doc["type"] == f"https://shop.example.com/problems/{slug}"
    return doc


def outbox(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox ORDER BY id")).scalars()
        return list(rows)


def test_happy_path_pays_takes_stock_clears_cart_and_syncs(
    client: SyncClient, monolith: FakeMonolith, clean: Engine
) -> None:
    monolith.put_cart("s1", {1: 2, 2: 1}, user={"id": 42, "email": "a@x.de", "is_staff": False})
    resp = checkout(client, user=42)
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert list(order) == [
        "id",
        "status",
        "email",
        "total",
        "currency",
        "shipping",
        "lines",
        "payments",
        "created",
        "updated",
    ]
    assert order["id"] >= 1_000_000_000
    assert resp.headers["location"] == f"/api/orders/{order['id']}/"
    assert (order["status"], order["email"], order["total"]) == ("paid", "ada@example.com", "32.25")
    assert order["shipping"]["country"] == "DE"
    assert [ln["sku"] for ln in order["lines"]] == ["SKU-1", " sku-2 "]
    assert order["lines"][0] == {
        "product_id": 1,
        "sku": "SKU-1",
        "name": "Mug",
        "unit_price": "12.50",
        "quantity": 2,
        "line_total": "25.00",
    }
    [payment] = order["payments"]
    assert payment["status"] == "captured"
    assert payment["gateway_ref"].startswith("SIM-")
    assert len(order["created"]) == 19  # legacy: naive, seconds
    assert (monolith.stock(1), monolith.stock(2)) == (3, 0)
    assert monolith.carts["s1"]["items"] == {}
    # read back through the legacy API, byte for byte the checkout's body
    again = client.get(f"/api/orders/{order['id']}/", headers={"X-Strangler-Identity": token(42)})
    assert again.content == resp.content
    # reverse sync: one event per visible change, the whole order in row shape
    payloads = outbox(clean)
    assert [p["change"] for p in payloads] == [
        "StockReserved",
        "PaymentAuthorised",
        "OrderConfirmed",
    ]
    last = payloads[-1]
    assert last["order"]["status"] == "paid"
    assert last["order"]["user_id"] == 42
    assert last["payments"][0]["card_last4"] == "4242"
    assert order_to_legacy_json(order_from_sync_payload(last))["total"] == "32.25"


def test_declined_payment_releases_stock_and_answers_402(
    client: SyncClient, monolith: FakeMonolith, clean: Engine
) -> None:
    monolith.put_cart("s1", {1: 2})
    doc = problem(checkout(client, card_number=FUNDS_CARD), 402, "payment-declined")
    assert doc["title"] == "Payment declined"
    assert doc["reason"] == "insufficient_funds"
    assert doc["detail"] == "Your card has insufficient funds. Please use another card."
    assert list(doc)[-2:] == ["order_id", "reason"]
    assert monolith.stock(1) == 5  # released
    assert monolith.carts["s1"]["items"] == {1: 2}  # kept for another card
    order = OrderReads(clean).get(doc["order_id"])
    assert order is not None
    assert order.status == "cancelled"
    assert [p.status for p in order.payments] == ["declined"]
    assert outbox(clean)[-1]["order"]["status"] == "cancelled"


def test_insufficient_stock_is_409_and_the_order_never_exists(
    client: SyncClient, monolith: FakeMonolith, clean: Engine
) -> None:
    monolith.put_cart("s1", {1: 1, 2: 3})
    doc = problem(checkout(client, user=42), 409, "insufficient-stock")
    assert (doc["title"], doc["sku"], doc["available"]) == ("Not enough stock", "sku-2", 1)
    assert doc["detail"] == "Only 1 of sku-2 in stock, 3 requested."
    assert monolith.stock(1) == 5
    listed = client.get("/api/orders/", headers={"X-Strangler-Identity": token(42)}).json()
    assert listed == {"count": 0, "next": None, "previous": None, "results": []}
    assert outbox(clean) == []


def test_timeout_compensates_and_a_late_reservation_takes_nothing(
    clean: Engine, monolith: FakeMonolith, settings: Any
) -> None:
    from .conftest import make_client

    fast = settings.model_copy(update={"saga_step_timeout": 0.2, "saga_deadline": 0.6})
    client = make_client(fast)
    try:
        monolith.put_cart("s1", {1: 1})
        monolith.reservation_delay = 1.5  # answers only after the saga gave up
        doc = problem(checkout(client), 503, "checkout-unavailable")
        assert "order_id" not in doc  # never reserved: invisible
        sent = [c for c in monolith.calls if c[0] == "reserve"]
        wait_until(
            lambda: len([f for f in monolith.finished if f[0] == "reserve"]) == len(sent),
            what="the late reservations",
        )
        assert monolith.stock(1) == 5
        assert {monolith.commands[c]["outcome"] for _, c in sent} == {"cancelled"}
        with clean.connect() as conn:
            state, reason = conn.execute(text("SELECT state, cancel_reason FROM sagas")).one()
        assert (state, reason) == ("compensated", "timeout")
    finally:
        client.close()


def test_idempotency_key_replays_the_first_outcome(
    client: SyncClient, monolith: FakeMonolith
) -> None:
    monolith.put_cart("s1", {1: 1})
    first = checkout(client, user=42, key="k-1")
    assert first.status_code == 201
    monolith.put_cart("s1", {1: 1})
    again = checkout(client, user=42, key="k-1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert monolith.stock(1) == 4  # taken once
    problem(checkout(client, user=7, key="k-1"), 409, "idempotency-key-reused")
    declined = problem(
        checkout(client, user=42, key="k-2", card_number=DECLINED_CARD), 402, "payment-declined"
    )
    replayed = problem(
        checkout(client, user=42, key="k-2", card_number=DECLINED_CARD), 402, "payment-declined"
    )
    assert replayed["order_id"] == declined["order_id"]


def test_input_problems_match_the_monolith(client: SyncClient, monolith: FakeMonolith) -> None:
    doc = problem(checkout(client, name=None, country="DEU", email="nope"), 400, "validation-error")
    assert doc["title"] == "Bad Request"
    assert doc["errors"] == {
        "email": ["Enter a valid email address."],
        "name": ["This field is required."],
        "country": ["Ensure this field has no more than 2 characters."],
    }
    doc = problem(checkout(client, country="1x"), 400, "validation-error")
    assert (doc["title"], doc["errors"]) == (
        "Invalid input",
        {"country": ["Use a two-letter country code, e.g. DE."]},
    )
    doc = problem(checkout(client, card_number="4242424242424241"), 400, "invalid-card")
    assert doc["errors"] == {"card_number": ["Enter a valid card number."]}
    assert doc["title"] == "Invalid card number"
    problem(checkout(client, key="x" * 65), 400, "validation-error")
    problem(checkout(client, session="nobody"), 409, "empty-cart")
    monolith.put_cart("s1", {3: 1, 1: 1})
    doc = problem(checkout(client), 409, "product-unavailable")
    assert doc["detail"] == "No longer available: SKU-3. Remove them from the cart."
    resp = client.post("/api/checkout/", content=b"{", headers={"Content-Type": "application/json"})
    problem(resp, 400, "malformed-request")
    resp = client.post("/api/checkout/", json=[1])
    assert problem(resp, 400, "validation-error")["detail"] == (
        "Invalid data. Expected a dictionary, but got list."
    )


def test_order_reads_need_a_user_and_hide_others_orders(
    client: SyncClient, monolith: FakeMonolith
) -> None:
    monolith.put_cart("s1", {1: 1})
    order_id = checkout(client, user=42).json()["id"]
    doc = problem(client.get("/api/orders/"), 401, "not-authenticated")
    assert doc["detail"] == "Authentication credentials were not provided."
    assert client.get("/api/orders/").headers["www-authenticate"] == "Token"
    mine = {"X-Strangler-Identity": token(42)}
    other = {"X-Strangler-Identity": token(7)}
    staff = {"X-Strangler-Identity": token(1, staff=True)}
    problem(client.get(f"/api/orders/{order_id}/", headers=other), 404, "not-found")
    assert client.get(f"/api/orders/{order_id}/", headers=staff).status_code == 200
    assert client.get("/api/orders/", headers=other).json()["count"] == 0
    listed = client.get("/api/orders/?page_size=1", headers=mine).json()
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == order_id
    problem(client.get("/api/orders/?page=2", headers=mine), 404, "not-found")
    assert client.get("/api/orders", headers=mine).status_code == 301
    problem(client.get("/api/orders/abc/", headers=mine), 404, "not-found")
