"""What the orders service's checkout saga relies on from the monolith as its participant.

The consumer is the service's real participant client
(``orders_service.adapters.monolith.MonolithParticipant``) pointed at the Pact mock
server; the provider is ``shop-web``, the monolith's internal endpoints (trusted callers
only: the verification calls them over loopback, as the service does). Command ids are
UUIDs the saga makes up, so they are matched by type; the ids a state pins (the cart,
the reservation being released) are exact.
"""

from __future__ import annotations

import uuid
from typing import Any

from orders_service.adapters.monolith import MonolithParticipant
from orders_service.domain import OrderLine
from pact import Pact, match

from contracts import orders_fixtures as fx
from contracts import shapes

CONSUMER = "orders-service"
PROVIDER = "shop-web"

COMMAND_ID = "5b0f3e4c-8a61-4f0e-9d55-3f2c7f1b9a01"
RESERVATION_ID = "0c9d8e7f-6a5b-4c3d-8e1f-0a1b2c3d4e5f"
ORDER_ID = 1_000_000_000
GUEST_CART = {"session_key": fx.GUEST_SESSION, "cart_id": fx.CART_ID, "product_id": fx.PRODUCT_ID,
              "sku": fx.PRODUCT_SKU, "price": "12.50", "stock": 5, "quantity": 2}  # fmt: skip
LINE = OrderLine(product_id=fx.PRODUCT_ID, sku=fx.PRODUCT_SKU, name="Espresso cup",
                 unit_price_minor=1250, quantity=2)  # fmt: skip


def _participant(url: str) -> MonolithParticipant:
    return MonolithParticipant(url, timeout=5)


def _json(pact: Pact) -> Pact:
    return pact.will_respond_with(200).with_header(
        "Content-Type", match.regex("application/json", regex=shapes.JSON)
    )


def _reservation(quantity: int) -> dict[str, Any]:
    return {
        "command_id": match.uuid(COMMAND_ID),
        "order_id": match.int(ORDER_ID),
        "lines": match.each_like(
            {"product_id": match.int(fx.PRODUCT_ID), "quantity": match.int(quantity)}, min=1
        ),
    }


def test_the_guests_cart_through_the_forwarded_cookie(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a request for the cart of the guest whose cookie is forwarded")
        .given("a guest cart holds products in stock", **GUEST_CART)
        .with_request("GET", "/_internal/checkout/cart")
        .with_header("Cookie", f"{fx.SESSION_COOKIE}={fx.GUEST_SESSION}")
    )
    _json(request).with_body(
        {
            "cart_id": match.int(fx.CART_ID),
            "user": None,
            "items": match.each_like(
                {
                    "product_id": match.int(fx.PRODUCT_ID),
                    "sku": match.str(fx.PRODUCT_SKU),
                    "name": match.str("Espresso cup"),
                    "unit_price": shapes.money("12.50"),
                    "currency": match.regex("EUR", regex=shapes.CURRENCY),
                    "quantity": match.int(2),
                    "available": match.bool(True),
                },
                min=1,
            ),
        },
        content_type="application/json",
    )
    with pact.serve() as srv:
        participant = _participant(str(srv.url))
        try:
            cart = participant.cart({"cookie": f"{fx.SESSION_COOKIE}={fx.GUEST_SESSION}"})
        finally:
            participant.close()
    assert cart.cart_id == fx.CART_ID
    assert cart.lines[0].quantity == 2


def test_stock_is_reserved(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a command to reserve stock that is there")
        .given("products are in stock", product_id=fx.PRODUCT_ID, sku=fx.PRODUCT_SKU, stock=5)
        .with_request("POST", "/_internal/inventory/reservations")
        .with_body(_reservation(2), content_type="application/json")
    )
    _json(request).with_body(
        {"command_id": match.uuid(COMMAND_ID), "outcome": "reserved",
         "replayed": match.bool(False)},
        content_type="application/json",
    )  # fmt: skip
    with pact.serve() as srv:
        participant = _participant(str(srv.url))
        try:
            outcome = participant.reserve(uuid.UUID(COMMAND_ID), ORDER_ID, [LINE])
        finally:
            participant.close()
    assert outcome.outcome == "reserved"


def test_a_reservation_beyond_the_stock_is_refused_naming_the_sku(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a command to reserve more stock than there is")
        .given("products are in stock", product_id=fx.PRODUCT_ID, sku=fx.PRODUCT_SKU, stock=1)
        .with_request("POST", "/_internal/inventory/reservations")
        .with_body(_reservation(3), content_type="application/json")
    )
    _json(request).with_body(
        {"command_id": match.uuid(COMMAND_ID), "outcome": "insufficient_stock",
         "replayed": match.bool(False), "detail": match.str("Only 1 left of SKU-0042."),
         "sku": match.str(fx.PRODUCT_SKU), "available": match.int(1)},
        content_type="application/json",
    )  # fmt: skip
    line = OrderLine(fx.PRODUCT_ID, fx.PRODUCT_SKU, "Espresso cup", 1250, 3)
    with pact.serve() as srv:
        participant = _participant(str(srv.url))
        try:
            outcome = participant.reserve(uuid.UUID(COMMAND_ID), ORDER_ID, [line])
        finally:
            participant.close()
    assert outcome.outcome == "insufficient_stock"
    assert outcome.sku == fx.PRODUCT_SKU
    assert outcome.available == 1


def test_a_reservation_is_released(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a command to release a reservation")
        .given(
            "stock is reserved for an order",
            reservation_id=RESERVATION_ID,
            order_id=ORDER_ID,
            product_id=fx.PRODUCT_ID,
            sku=fx.PRODUCT_SKU,
            stock=5,
            quantity=2,
        )
        .with_request("POST", "/_internal/inventory/releases")
        .with_body(
            {
                "command_id": match.uuid(COMMAND_ID),
                "reservation_id": RESERVATION_ID,
                "order_id": ORDER_ID,
            },
            content_type="application/json",
        )
    )
    _json(request).with_body(
        {"command_id": match.uuid(COMMAND_ID), "outcome": "released",
         "replayed": match.bool(False)},
        content_type="application/json",
    )  # fmt: skip
    with pact.serve() as srv:
        participant = _participant(str(srv.url))
        try:
            outcome = participant.release(uuid.UUID(COMMAND_ID), uuid.UUID(RESERVATION_ID),
                                          ORDER_ID)  # fmt: skip
        finally:
            participant.close()
    assert outcome.outcome == "released"


def test_the_cart_is_cleared_after_a_confirmed_order(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a command to clear the cart of a confirmed order")
        .given("a guest cart holds products in stock", **GUEST_CART)
        .with_request("POST", "/_internal/checkout/cart/clear")
        .with_body(
            {"command_id": match.uuid(COMMAND_ID), "cart_id": fx.CART_ID},
            content_type="application/json",
        )
    )
    _json(request).with_body(
        {"command_id": match.uuid(COMMAND_ID), "outcome": "cleared",
         "replayed": match.bool(False)},
        content_type="application/json",
    )  # fmt: skip
    with pact.serve() as srv:
        participant = _participant(str(srv.url))
        try:
            outcome = participant.clear_cart(uuid.UUID(COMMAND_ID), fx.CART_ID)
        finally:
            participant.close()
    assert outcome.outcome == "cleared"
