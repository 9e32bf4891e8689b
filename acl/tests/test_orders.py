"""The orders translators: cart JSON, order JSON, reverse-sync payload, legacy rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from acl.orders.domain import (
    CartLine,
    OrderLine,
    OrderSnapshot,
    OrderStatus,
    Payment,
    PaymentStatus,
    ShippingAddress,
)
from acl.orders.legacy import (
    ORDER_JSON_KEYS,
    cart_from_legacy_json,
    order_from_legacy_json,
    order_from_rows,
    order_from_sync_payload,
    order_to_legacy_json,
    order_to_sync_payload,
    status_to_legacy,
)
from hypothesis import given
from hypothesis import strategies as st

from acl import UntranslatableRecord

AT = datetime(2024, 7, 1, 10, 0, 5, 123456, tzinfo=UTC)
ORDER = OrderSnapshot(
    order_id=1_000_000_007,
    user_id=42,
    email="ada@example.com",
    status=OrderStatus.PAID,
    currency="EUR",
    total_minor=3225,
    shipping=ShippingAddress("Ada", "1 Way", "Berlin", "10115", "DE", line2="c/o B"),
    lines=(OrderLine(1, "SKU-1", "Mug", 1250, 2), OrderLine(2, " sku-2 ", "Plate", 725, 1)),
    payments=(Payment(9, 3225, PaymentStatus.CAPTURED, "SIM-AB", "key-1", AT, "", "4242"),),
    created_at=AT,
    updated_at=AT,
)


def test_cart_json_to_domain_lines() -> None:
    cart = cart_from_legacy_json({
        "cart_id": 7,
        "user": {"id": 42, "email": "a@x.de", "is_staff": False},
        "items": [{"product_id": 1, "sku": "SKU-1", "name": "Mug", "unit_price": "12.50",
                   "currency": "eur", "quantity": 2, "available": True}],
    })  # fmt: skip
    assert cart.cart_id == 7
    assert cart.user is not None
    assert cart.user.email == "a@x.de"
    assert cart.lines == (CartLine(1, "SKU-1", "Mug", 1250, "EUR", 2, True),)
    empty = cart_from_legacy_json({"cart_id": None, "user": None, "items": []})
    assert (empty.cart_id, empty.lines) == (None, ())


@pytest.mark.parametrize(
    "change",
    [{"unit_price": "12.5e1"}, {"quantity": 0}, {"available": "yes"}, {"currency": "XXX"}],
)
def test_untranslatable_cart_lines_are_refused(change: dict[str, object]) -> None:
    item = {"product_id": 1, "sku": "S", "name": "N", "unit_price": "1.00", "currency": "EUR",
            "quantity": 1, "available": True, **change}  # fmt: skip
    with pytest.raises(UntranslatableRecord):
        cart_from_legacy_json({"cart_id": 1, "user": None, "items": [item]})


def test_order_json_is_the_monolith_order_output() -> None:
    doc = order_to_legacy_json(ORDER)
    assert tuple(doc) == ORDER_JSON_KEYS
    assert doc["total"] == "32.25"
    assert doc["created"] == "2024-07-01T12:00:05"  # Berlin wall clock, seconds
    assert doc["lines"][0] == {
        "product_id": 1,
        "sku": "SKU-1",
        "name": "Mug",
        "unit_price": "12.50",
        "quantity": 2,
        "line_total": "25.00",
    }
    assert doc["payments"][0] == {"id": 9, "amount": "32.25", "currency": "EUR",
                                  "status": "captured", "gateway_ref": "SIM-AB",
                                  "created": "2024-07-01T12:00:05"}  # fmt: skip
    assert doc["shipping"] == {"name": "Ada", "line1": "1 Way", "line2": "c/o B",
                               "city": "Berlin", "zip": "10115", "country": "DE"}  # fmt: skip


def test_status_mapping() -> None:
    assert status_to_legacy(OrderStatus.AWAITING_PAYMENT) == "new"
    assert status_to_legacy(OrderStatus.AUTHORISED) == "new"
    with pytest.raises(ValueError, match="pending or rejected"):
        status_to_legacy(OrderStatus.PENDING)
    with pytest.raises(UntranslatableRecord):
        order_to_legacy_json(replace(ORDER, status=OrderStatus.REJECTED))


def test_rows_to_domain() -> None:
    order_row = {"id": 5, "user_id": None, "email": "g@x.de", "status": "new",
                 "total": Decimal("10.00"), "cur": "EUR", "ship_name": "G", "ship_line1": "L",
                 "ship_line2": "", "ship_city": "C", "ship_zip": "1", "ship_country": "DE",
                 "created": AT, "updated": AT}  # fmt: skip
    lines = [{"id": 1, "order_id": 5, "product_id": 3, "sku": "S", "name": "N",
              "unit_price": Decimal("5.00"), "qty": 2}]  # fmt: skip
    payments = [{"id": 8, "order_id": 5, "amount": Decimal("10.00"), "cur": "EUR",
                 "status": "authorised", "gateway_ref": "SIM-1", "decline_code": "",
                 "card_last4": "4242", "idempotency_key": "k", "created": AT}]  # fmt: skip
    order = order_from_rows(order_row, lines, payments)
    assert order.status == OrderStatus.AUTHORISED
    assert order.total_minor == 1000
    assert order.lines == (OrderLine(3, "S", "N", 500, 2),)
    assert order_from_rows(order_row, lines, []).status == OrderStatus.AWAITING_PAYMENT
    with pytest.raises(UntranslatableRecord):
        order_from_rows({**order_row, "status": "lost"}, lines, payments)


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
visible = st.sampled_from([s for s in OrderStatus if s not in ("pending", "rejected")])
payments = st.builds(
    Payment, payment_id=st.integers(1, 2**31), amount_minor=st.integers(0, 10**9),
    status=st.sampled_from(list(PaymentStatus)), gateway_ref=texts, idempotency_key=texts,
    created_at=instants, decline_code=texts, card_last4=st.text("0123456789", max_size=4),
)  # fmt: skip
orders = st.builds(
    OrderSnapshot, order_id=st.integers(1, 2**40), user_id=st.none() | st.integers(1, 2**31),
    email=texts, status=visible, currency=st.just("EUR"), total_minor=st.integers(0, 10**9),
    shipping=st.builds(ShippingAddress, texts, texts, texts, texts, texts, texts),
    lines=st.lists(st.builds(OrderLine, st.integers(1, 2**31), texts, texts,
                             st.integers(0, 10**7), st.integers(1, 1000)), max_size=3).map(tuple),
    payments=st.lists(payments, max_size=3).map(tuple), created_at=instants, updated_at=instants,
)  # fmt: skip


def _comparable(order: OrderSnapshot) -> OrderSnapshot:
    """What the monolith's shapes can carry: legacy "new" is authorised exactly when a
    payment is authorised."""
    status = order.status
    if status in (OrderStatus.AWAITING_PAYMENT, OrderStatus.AUTHORISED):
        authorised = any(p.status == PaymentStatus.AUTHORISED for p in order.payments)
        status = OrderStatus.AUTHORISED if authorised else OrderStatus.AWAITING_PAYMENT
    return replace(order, status=status)


@given(orders)
def test_sync_payload_round_trips(order: OrderSnapshot) -> None:
    payload = order_to_sync_payload(order, change="OrderConfirmed")
    assert payload["change"] == "OrderConfirmed"
    assert order_from_sync_payload(payload) == _comparable(order)


@given(orders)
def test_order_json_round_trips_to_seconds(order: OrderSnapshot) -> None:
    doc = order_to_legacy_json(order)
    back = order_from_legacy_json(doc, user_id=order.user_id)
    assert order_to_legacy_json(back) == doc
    assert back.total_minor == order.total_minor
    assert back.lines == order.lines
