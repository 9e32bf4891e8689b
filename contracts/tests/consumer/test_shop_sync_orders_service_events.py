"""What the monolith's order sync (``shop.sync.orders``) relies on from the orders
service's ``orders.order.changed.v1`` events: the whole order in legacy row shape.

The message is the relay's transport envelope as the relay publishes it from the
service's outbox; the handler is the monolith's real path up to the database: the
envelope check ``outbox.Consumer`` makes, then ``shop.sync.orders.decode``, which turns
the event into the ``shop_order``/``shop_orderline``/``shop_payment`` rows it upserts.
"""

from __future__ import annotations

import json
from typing import Any

from outbox.envelope import validate
from pact import Pact, match
from shop.sync.orders import LegacyOrder, decode

from contracts import shapes

CONSUMER = "shop-sync"
PROVIDER = "orders-service"

ORDER_ID = 1_000_000_042
PAID = "an orders.order.changed.v1 event for an order the service placed and was paid"


def _handler(seen: list[LegacyOrder]) -> Any:
    def handler(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        assert body is not None
        seen.append(decode(validate(json.loads(body))))

    return handler


def test_a_paid_order(pact: Pact) -> None:
    when = match.regex("2024-05-01T08:00:00.123456+00:00", regex=shapes.ISO_UTC)
    (
        pact.upon_receiving(PAID, "Async")
        .given(
            "a customer has a paid order",
            user_id=7,
            order_id=ORDER_ID,
            token="0123456789abcdef0123456789abcdef01234567",
            email="ada@example.com",
            product_id=42,
            sku="SKU-0042",
            price="12.50",
            quantity=2,
        )
        .with_body(
            {
                "event_id": match.uuid("7f9c5a52-3d3e-4b7e-9d2a-1c3e8f0b6a11"),
                "aggregate_type": "orders.order",
                "aggregate_id": match.regex(str(ORDER_ID), regex=r"^\d+$"),
                "version": match.int(3),
                "event_type": "orders.order.changed.v1",
                "headers": match.like({}),
                "created_at": when,
                "payload": {
                    "change": match.str("OrderConfirmed"),
                    "order": {
                        "id": match.int(ORDER_ID),
                        "user_id": match.int(7),
                        "email": match.str("ada@example.com"),
                        "status": "paid",
                        "total": shapes.money("25.00"),
                        "cur": match.regex("EUR", regex=shapes.CURRENCY),
                        "ship_name": match.str("Ada Lovelace"),
                        "ship_line1": match.str("1 Analytical Way"),
                        "ship_line2": match.str(""),
                        "ship_city": match.str("London"),
                        "ship_zip": match.str("N1 7AA"),
                        "ship_country": match.regex("GB", regex=r"^[A-Z]{2}$"),
                        "created": when,
                        "updated": when,
                    },
                    "lines": match.each_like(
                        {
                            "product_id": match.int(42),
                            "sku": match.str("SKU-0042"),
                            "name": match.str("Espresso cup"),
                            "unit_price": shapes.money("12.50"),
                            "qty": match.int(2),
                        },
                        min=1,
                    ),
                    "payments": match.each_like(
                        {
                            "id": match.int(1_000_000_000),
                            "amount": shapes.money("25.00"),
                            "cur": match.regex("EUR", regex=shapes.CURRENCY),
                            "status": match.regex(
                                "captured",
                                regex=r"^(authorised|captured|"
                                r"declined|voided|refunded)$",
                            ),
                            "gateway_ref": match.str("sim_0123456789abcdef"),
                            "decline_code": match.str(""),
                            "card_last4": match.regex("4242", regex=r"^\d{4}$"),
                            "idempotency_key": match.str("3f2c7f1b9a01"),
                            "created": when,
                        },
                        min=1,
                    ),
                },
            },
            content_type="application/json",
        )
    )
    seen: list[LegacyOrder] = []
    pact.verify(_handler(seen), "Async")
    assert seen
    (order,) = seen
    assert order.order["status"] == "paid"
    assert str(order.lines[0]["unit_price"]) == "12.50"
    assert order.payments[0]["status"] == "captured"
