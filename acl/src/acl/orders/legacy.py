"""The monolith's order shapes <-> the orders domain, both ways.

* the participant's cart JSON (``GET /_internal/checkout/cart``) -> :class:`Cart`;
* :class:`OrderSnapshot` -> the public order JSON (DRF ``OrderOutput``) and back;
* :class:`OrderSnapshot` -> the reverse-sync payload (``orders.order.changed.v1``) and back;
* ``shop_order`` / ``shop_orderline`` / ``shop_payment`` rows -> :class:`OrderSnapshot`.

Legacy datetimes in JSON are naive Europe/Berlin wall-clock times with seconds precision
(``REST_FRAMEWORK["DATETIME_FORMAT"]``); rows carry exact instants (``timestamptz``); the
sync payload carries ISO 8601 with an offset. Anything that cannot be translated
faithfully raises :class:`acl.errors.UntranslatableRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

from acl.catalog import quirks
from acl.catalog.legacy_json import format_local, format_price
from acl.errors import FieldProblem, untranslatable
from acl.orders.domain import (
    Cart,
    CartLine,
    CartUser,
    Money,
    OrderLine,
    OrderSnapshot,
    OrderStatus,
    Payment,
    PaymentStatus,
    ShippingAddress,
)

CART_JSON = "legacy checkout cart JSON"
ORDER_JSON = "legacy order JSON"
ORDER_TABLE = "shop_order"
SYNC_PAYLOAD = "orders.order.changed.v1"
ORDER_CHANGED_EVENT = "orders.order.changed.v1"
ORDER_AGGREGATE = "orders.order"

LEGACY_STATUSES = ("new", "paid", "shipped", "delivered", "cancelled")
STATUS_TO_LEGACY: Mapping[OrderStatus, str] = {
    OrderStatus.AWAITING_PAYMENT: "new",
    OrderStatus.AUTHORISED: "new",
    OrderStatus.PAID: "paid",
    OrderStatus.SHIPPED: "shipped",
    OrderStatus.DELIVERED: "delivered",
    OrderStatus.CANCELLED: "cancelled",
}
ORDER_COLUMNS = (
    "id", "user_id", "email", "status", "total", "cur", "ship_name", "ship_line1",
    "ship_line2", "ship_city", "ship_zip", "ship_country", "created", "updated",
)  # fmt: skip
LINE_COLUMNS = ("id", "order_id", "product_id", "sku", "name", "unit_price", "qty")
PAYMENT_COLUMNS = (
    "id", "order_id", "amount", "cur", "status", "gateway_ref", "decline_code", "card_last4",
    "idempotency_key", "created",
)  # fmt: skip


class LegacyShippingJSON(TypedDict):
    name: str
    line1: str
    line2: str
    city: str
    zip: str
    country: str


class LegacyOrderLineJSON(TypedDict):
    product_id: int
    sku: str
    name: str
    unit_price: str
    quantity: int
    line_total: str


class LegacyPaymentJSON(TypedDict):
    id: int
    amount: str
    currency: str
    status: str
    gateway_ref: str
    created: str


# Key order is part of the contract: DRF's OrderOutput field order.
class LegacyOrderJSON(TypedDict):
    id: int
    status: str
    email: str
    total: str
    currency: str
    shipping: LegacyShippingJSON
    lines: list[LegacyOrderLineJSON]
    payments: list[LegacyPaymentJSON]
    created: str
    updated: str


ORDER_JSON_KEYS = tuple(LegacyOrderJSON.__annotations__)


# --- status ------------------------------------------------------------------------------


def status_to_legacy(status: OrderStatus) -> str:
    """The legacy status; pending and rejected orders have none (they never existed there)."""
    try:
        return STATUS_TO_LEGACY[status]
    except KeyError:
        raise FieldProblem("status", "a pending or rejected order has no legacy form",
                           str(status)) from None  # fmt: skip


def status_from_legacy(raw: object, payment_statuses: Sequence[PaymentStatus]) -> OrderStatus:
    """Legacy ``new`` is ``authorised`` when a payment is authorised, else awaiting payment."""
    if not isinstance(raw, str) or raw not in LEGACY_STATUSES:
        raise FieldProblem("status", f"must be one of {', '.join(LEGACY_STATUSES)}", raw)
    if raw == "new":
        if PaymentStatus.AUTHORISED in payment_statuses:
            return OrderStatus.AUTHORISED
        return OrderStatus.AWAITING_PAYMENT
    return OrderStatus(raw)


def _payment_status(raw: object, field: str) -> PaymentStatus:
    try:
        return PaymentStatus(str(raw)) if isinstance(raw, str) else PaymentStatus("")
    except ValueError:
        raise FieldProblem(field, "not a payment status", raw) from None


def _minor(raw: object, currency: str, field: str) -> int:
    if isinstance(raw, str) and (raw != raw.strip() or "e" in raw.lower()):
        raise FieldProblem(field, "not a plain decimal string", raw)
    return quirks.money_from_legacy(raw, currency, field).amount_minor


def _decimal_text(amount_minor: int, currency: str, field: str) -> str:
    return format_price(quirks.money_to_legacy(Money(amount_minor, currency), field))


# --- the participant's cart --------------------------------------------------------------


def cart_from_legacy_json(doc: Mapping[str, Any]) -> Cart:
    """The monolith's checkout cart -> domain cart lines with money in minor units."""
    try:
        if not isinstance(doc, Mapping):
            raise FieldProblem("cart", "expected an object", doc)
        for key in ("cart_id", "user", "items"):
            if key not in doc:
                raise FieldProblem(key, "missing")
        cart_id = quirks.optional_int(doc["cart_id"], "cart_id", minimum=1)
        user = _cart_user(doc["user"])
        items = doc["items"]
        if not isinstance(items, list):
            raise FieldProblem("items", "expected a list", items)
        lines = tuple(_cart_line(item, index) for index, item in enumerate(items))
    except FieldProblem as problem:
        raise untranslatable(CART_JSON, doc.get("cart_id") if isinstance(doc, Mapping) else None,
                             problem) from None  # fmt: skip
    return Cart(cart_id=cart_id, user=user, lines=lines)


def _cart_user(raw: object) -> CartUser | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise FieldProblem("user", "expected null or an object", raw)
    is_staff = raw.get("is_staff")
    if not isinstance(is_staff, bool):
        raise FieldProblem("user.is_staff", "expected a boolean", is_staff)
    return CartUser(
        user_id=quirks.required_int(raw.get("id"), "user.id", minimum=1),
        email=quirks.required_text(raw.get("email"), "user.email"),
        is_staff=is_staff,
    )


def _cart_line(raw: object, index: int) -> CartLine:
    prefix = f"items.{index}"
    if not isinstance(raw, Mapping):
        raise FieldProblem(prefix, "expected an object", raw)
    currency = quirks.canonical_currency(raw.get("currency"), f"{prefix}.currency")
    available = raw.get("available")
    if not isinstance(available, bool):
        raise FieldProblem(f"{prefix}.available", "expected a boolean", available)
    price = quirks.required_text(raw.get("unit_price"), f"{prefix}.unit_price")
    return CartLine(
        product_id=quirks.required_int(raw.get("product_id"), f"{prefix}.product_id", minimum=1),
        sku=quirks.required_text(raw.get("sku"), f"{prefix}.sku"),
        name=quirks.required_text(raw.get("name"), f"{prefix}.name"),
        unit_price_minor=_minor(price, currency, f"{prefix}.unit_price"),
        currency=currency,
        quantity=quirks.required_int(raw.get("quantity"), f"{prefix}.quantity", minimum=1),
        available=available,
    )


# --- public JSON -------------------------------------------------------------------------


def order_to_legacy_json(order: OrderSnapshot) -> LegacyOrderJSON:
    """The monolith's ``OrderOutput`` for this order, key for key and byte for byte."""
    try:
        cur = order.currency
        return {
            "id": order.order_id,
            "status": status_to_legacy(order.status),
            "email": order.email,
            "total": _decimal_text(order.total_minor, cur, "total"),
            "currency": cur,
            "shipping": {
                "name": order.shipping.name,
                "line1": order.shipping.line1,
                "line2": order.shipping.line2,
                "city": order.shipping.city,
                "zip": order.shipping.zip,
                "country": order.shipping.country,
            },
            "lines": [
                {
                    "product_id": line.product_id,
                    "sku": line.sku,
                    "name": line.name,
                    "unit_price": _decimal_text(line.unit_price_minor, cur, "unit_price"),
                    "quantity": line.quantity,
                    "line_total": _decimal_text(line.total_minor, cur, "line_total"),
                }
                for line in order.lines
            ],
            "payments": [
                {
                    "id": p.payment_id,
                    "amount": _decimal_text(p.amount_minor, cur, "amount"),
                    "currency": cur,
                    "status": str(p.status),
                    "gateway_ref": p.gateway_ref,
                    "created": format_local(quirks.utc_to_local(p.created_at, "created")),
                }
                for p in order.payments
            ],
            "created": format_local(quirks.utc_to_local(order.created_at, "created")),
            "updated": format_local(quirks.utc_to_local(order.updated_at, "updated")),
        }
    except FieldProblem as problem:
        raise untranslatable("orders order", order.order_id, problem) from None


def order_from_legacy_json(doc: Mapping[str, Any], *, user_id: int | None) -> OrderSnapshot:
    """Parse the monolith's order JSON (it does not carry the owner: the caller says).

    The JSON has no decline codes, card digits or idempotency keys, and seconds precision;
    those come back empty and truncated.
    """
    record_id = doc.get("id") if isinstance(doc, Mapping) else None
    try:
        missing = [k for k in ORDER_JSON_KEYS if k not in doc]
        if missing:
            raise FieldProblem(missing[0], "missing")
        cur = quirks.canonical_currency(doc["currency"], "currency")
        shipping = doc["shipping"]
        if not isinstance(shipping, Mapping):
            raise FieldProblem("shipping", "expected an object", shipping)
        payments = tuple(
            Payment(
                payment_id=quirks.required_int(p.get("id"), "payments.id", minimum=1),
                amount_minor=_minor(p.get("amount"), cur, "payments.amount"),
                status=_payment_status(p.get("status"), "payments.status"),
                gateway_ref=quirks.required_text(p.get("gateway_ref"), "payments.gateway_ref"),
                idempotency_key="",
                created_at=_local_json_time(p.get("created"), "payments.created"),
            )
            for p in _objects(doc["payments"], "payments")
        )
        return OrderSnapshot(
            order_id=quirks.required_int(doc["id"], "id", minimum=1),
            user_id=user_id,
            email=quirks.required_text(doc["email"], "email"),
            status=status_from_legacy(doc["status"], [p.status for p in payments]),
            currency=cur,
            total_minor=_minor(doc["total"], cur, "total"),
            shipping=_shipping({f"ship_{k}": shipping.get(k) for k in
                                ("name", "line1", "line2", "city", "zip", "country")}),
            lines=tuple(
                OrderLine(
                    product_id=quirks.required_int(ln.get("product_id"), "lines.product_id"),
                    sku=quirks.required_text(ln.get("sku"), "lines.sku"),
                    name=quirks.required_text(ln.get("name"), "lines.name"),
                    unit_price_minor=_minor(ln.get("unit_price"), cur, "lines.unit_price"),
                    quantity=quirks.required_int(ln.get("quantity"), "lines.quantity"),
                )
                for ln in _objects(doc["lines"], "lines")
            ),
            payments=payments,
            created_at=_local_json_time(doc["created"], "created"),
            updated_at=_local_json_time(doc["updated"], "updated"),
        )  # fmt: skip
    except FieldProblem as problem:
        raise untranslatable(ORDER_JSON, record_id, problem) from None


def _objects(raw: object, field: str) -> list[Mapping[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(x, Mapping) for x in raw):
        raise FieldProblem(field, "expected a list of objects", raw)
    return raw


def _local_json_time(raw: object, field: str) -> datetime:
    return quirks.local_to_utc(quirks.parse_local_iso(raw, field), field)


def _shipping(row: Mapping[str, object]) -> ShippingAddress:
    return ShippingAddress(
        name=quirks.required_text(row.get("ship_name"), "ship_name"),
        line1=quirks.required_text(row.get("ship_line1"), "ship_line1"),
        line2=quirks.required_text(row.get("ship_line2"), "ship_line2"),
        city=quirks.required_text(row.get("ship_city"), "ship_city"),
        zip=quirks.required_text(row.get("ship_zip"), "ship_zip"),
        country=quirks.required_text(row.get("ship_country"), "ship_country"),
    )


# --- reverse sync ------------------------------------------------------------------------


def _iso(value: datetime, field: str) -> str:
    if value.tzinfo is None:
        raise FieldProblem(field, "expected an aware datetime", value)
    return value.isoformat()


def order_to_sync_payload(order: OrderSnapshot, *, change: str) -> dict[str, Any]:
    """The ``orders.order.changed.v1`` payload: the whole order in legacy row shape.

    ``change`` names the domain event that produced this state (``StockReserved``, ...).
    """
    try:
        cur = order.currency
        return {
            "change": change,
            "order": {
                "id": order.order_id,
                "user_id": order.user_id,
                "email": order.email,
                "status": status_to_legacy(order.status),
                "total": _decimal_text(order.total_minor, cur, "total"),
                "cur": cur,
                "ship_name": order.shipping.name,
                "ship_line1": order.shipping.line1,
                "ship_line2": order.shipping.line2,
                "ship_city": order.shipping.city,
                "ship_zip": order.shipping.zip,
                "ship_country": order.shipping.country,
                "created": _iso(order.created_at, "created"),
                "updated": _iso(order.updated_at, "updated"),
            },
            "lines": [
                {
                    "product_id": line.product_id,
                    "sku": line.sku,
                    "name": line.name,
                    "unit_price": _decimal_text(line.unit_price_minor, cur, "unit_price"),
                    "qty": line.quantity,
                }
                for line in order.lines
            ],
            "payments": [
                {
                    "id": p.payment_id,
                    "amount": _decimal_text(p.amount_minor, cur, "amount"),
                    "cur": cur,
                    "status": str(p.status),
                    "gateway_ref": p.gateway_ref,
                    "decline_code": p.decline_code,
                    "card_last4": p.card_last4,
                    "idempotency_key": p.idempotency_key,
                    "created": _iso(p.created_at, "payments.created"),
                }
                for p in order.payments
            ],
        }
    except FieldProblem as problem:
        raise untranslatable("orders order", order.order_id, problem) from None


def order_from_sync_payload(payload: Mapping[str, Any]) -> OrderSnapshot:
    """Parse an ``orders.order.changed.v1`` payload."""
    order = payload.get("order") if isinstance(payload, Mapping) else None
    record_id = order.get("id") if isinstance(order, Mapping) else None
    try:
        if not isinstance(order, Mapping):
            raise FieldProblem("order", "expected an object", order)
        cur = quirks.canonical_currency(order.get("cur"), "order.cur")
        payments = tuple(
            Payment(
                payment_id=quirks.required_int(p.get("id"), "payments.id", minimum=1),
                amount_minor=_minor(p.get("amount"), cur, "payments.amount"),
                status=_payment_status(p.get("status"), "payments.status"),
                gateway_ref=quirks.required_text(p.get("gateway_ref"), "payments.gateway_ref"),
                decline_code=quirks.required_text(p.get("decline_code"), "payments.decline_code"),
                card_last4=quirks.required_text(p.get("card_last4"), "payments.card_last4"),
                idempotency_key=quirks.required_text(p.get("idempotency_key"),
                                                     "payments.idempotency_key"),
                created_at=_aware_iso(p.get("created"), "payments.created"),
            )
            for p in _objects(payload.get("payments"), "payments")
        )  # fmt: skip
        return OrderSnapshot(
            order_id=quirks.required_int(order.get("id"), "order.id", minimum=1),
            user_id=quirks.optional_int(order.get("user_id"), "order.user_id", minimum=1),
            email=quirks.required_text(order.get("email"), "order.email"),
            status=status_from_legacy(order.get("status"), [p.status for p in payments]),
            currency=cur,
            total_minor=_minor(order.get("total"), cur, "order.total"),
            shipping=_shipping(order),
            lines=tuple(
                OrderLine(
                    product_id=quirks.required_int(ln.get("product_id"), "lines.product_id"),
                    sku=quirks.required_text(ln.get("sku"), "lines.sku"),
                    name=quirks.required_text(ln.get("name"), "lines.name"),
                    unit_price_minor=_minor(ln.get("unit_price"), cur, "lines.unit_price"),
                    quantity=quirks.required_int(ln.get("qty"), "lines.qty"),
                )
                for ln in _objects(payload.get("lines"), "lines")
            ),
            payments=payments,
            created_at=_aware_iso(order.get("created"), "order.created"),
            updated_at=_aware_iso(order.get("updated"), "order.updated"),
        )
    except FieldProblem as problem:
        raise untranslatable(SYNC_PAYLOAD, record_id, problem) from None


def _aware_iso(raw: object, field: str) -> datetime:
    if not isinstance(raw, str):
        raise FieldProblem(field, "expected an ISO 8601 string", raw)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise FieldProblem(field, "not an ISO 8601 datetime", raw) from None
    if value.tzinfo is None:
        raise FieldProblem(field, "expected an offset", raw)
    return quirks.local_to_utc(value, field)


# --- legacy rows (the backfill) ----------------------------------------------------------


def order_from_rows(
    order_row: Mapping[str, object],
    line_rows: Sequence[Mapping[str, object]],
    payment_rows: Sequence[Mapping[str, object]],
) -> OrderSnapshot:
    """``shop_order`` with its ``shop_orderline`` and ``shop_payment`` rows (in id order)."""
    record_id = order_row.get("id")
    try:
        for column in ORDER_COLUMNS:
            if column not in order_row:
                raise FieldProblem(column, "column missing from the row")
        order_id = quirks.required_int(order_row["id"], "id", minimum=1)
        cur = quirks.canonical_currency(order_row["cur"], "cur")
        payments = tuple(_payment_row(row, cur) for row in payment_rows)
        lines = tuple(
            OrderLine(
                product_id=quirks.required_int(row.get("product_id"), "shop_orderline.product_id"),
                sku=quirks.required_text(row.get("sku"), "shop_orderline.sku"),
                name=quirks.required_text(row.get("name"), "shop_orderline.name"),
                unit_price_minor=_minor(row.get("unit_price"), cur, "shop_orderline.unit_price"),
                quantity=quirks.required_int(row.get("qty"), "shop_orderline.qty"),
            )
            for row in line_rows
        )
        return OrderSnapshot(
            order_id=order_id,
            user_id=quirks.optional_int(order_row["user_id"], "user_id", minimum=1),
            email=quirks.required_text(order_row["email"], "email"),
            status=status_from_legacy(order_row["status"], [p.status for p in payments]),
            currency=cur,
            total_minor=_minor(order_row["total"], cur, "total"),
            shipping=_shipping(order_row),
            lines=lines,
            payments=payments,
            created_at=quirks.local_to_utc(order_row["created"], "created"),
            updated_at=quirks.local_to_utc(order_row["updated"], "updated"),
        )
    except FieldProblem as problem:
        raise untranslatable(ORDER_TABLE, record_id, problem) from None


def _payment_row(row: Mapping[str, object], order_cur: str) -> Payment:
    cur = quirks.canonical_currency(row.get("cur"), "shop_payment.cur")
    if cur != order_cur:
        raise FieldProblem("shop_payment.cur", f"differs from the order's {order_cur}", cur)
    amount = row.get("amount")
    if not isinstance(amount, Decimal | int | str):
        raise FieldProblem("shop_payment.amount", "expected a decimal", amount)
    return Payment(
        payment_id=quirks.required_int(row.get("id"), "shop_payment.id", minimum=1),
        amount_minor=_minor(amount, cur, "shop_payment.amount"),
        status=_payment_status(row.get("status"), "shop_payment.status"),
        gateway_ref=quirks.required_text(row.get("gateway_ref"), "shop_payment.gateway_ref"),
        decline_code=quirks.required_text(row.get("decline_code"), "shop_payment.decline_code"),
        card_last4=quirks.required_text(row.get("card_last4"), "shop_payment.card_last4"),
        idempotency_key=quirks.required_text(row.get("idempotency_key"),
                                             "shop_payment.idempotency_key"),
        created_at=quirks.local_to_utc(row.get("created"), "shop_payment.created"),
    )  # fmt: skip
