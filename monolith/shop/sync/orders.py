"""Apply the orders service's order events to the legacy order tables (step 5's reverse sync).

Event ``orders.order.changed.v1`` (aggregate ``orders.order``, id = the order id) carries
the whole order in the legacy shape after each change: the order, its lines, its payments.
Applying it, in the inbox's transaction (``outbox.Consumer``, "latest" ordering: an event
older than the last one applied for the order is skipped, a newer one wins even after a
gap, a duplicate is a no-op):

* upserts ``shop_order`` under the event's id; a ``user_id`` unknown to ``auth_user``
  keeps the order, without its user, and logs a warning;
* replaces the order's ``shop_orderline`` rows; a product unknown to ``shop_product`` is an
  error (the consumer retries, then parks the order's events until it is released);
* upserts ``shop_payment`` by ``idempotency_key``;
* lifts ``shop_order_id_seq`` past the id, so orders the monolith places after a rollback
  never collide with one the service placed.

Datetimes arrive as ISO 8601 with an offset and are stored as that instant (the columns
are ``timestamptz``); Django reads them back as naive Europe/Berlin wall-clock times, the
legacy convention, like every other row.

No echo: the transaction is marked ``sync:orders``, an origin the monolith's outbox writer
suppresses (``shop.outbox.apps``). Nothing here goes through ``shop.orders.services``:
those refuse while the orders service owns orders, and this is how its orders arrive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from outbox import Envelope, mark_transaction_origin
from shop.outbox.context import ORDERS_SYNC_ORIGIN

log = logging.getLogger(__name__)

CONSUMER = "shop.orders-sync"
TASK_NAME = "shop.orders.apply"
QUEUE = "shop.orders-sync"
ORIGIN = ORDERS_SYNC_ORIGIN
AGGREGATE = "orders.order"
EVENT_TYPE = "orders.order.changed.v1"

ORDER_STATUSES = frozenset({"new", "paid", "shipped", "delivered", "cancelled"})
PAYMENT_STATUSES = frozenset({"authorised", "captured", "declined", "voided", "refunded"})
_ORDER_COLUMNS = (
    "id", "user_id", "email", "status", "total", "cur", "ship_name", "ship_line1",
    "ship_line2", "ship_city", "ship_zip", "ship_country", "created", "updated",
)  # fmt: skip
_PAYMENT_COLUMNS = (
    "id", "order_id", "amount", "cur", "status", "gateway_ref", "decline_code", "card_last4",
    "idempotency_key", "created",
)  # fmt: skip
_UPSERT_ORDER = (
    f"INSERT INTO shop_order ({', '.join(_ORDER_COLUMNS)})"  # noqa: S608 (constant SQL)
    f" VALUES ({', '.join(['%s'] * len(_ORDER_COLUMNS))}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ORDER_COLUMNS if c != "id")
)
_PAYMENT_KEYS = ("id", "idempotency_key")
_UPSERT_PAYMENT = (
    f"INSERT INTO shop_payment ({', '.join(_PAYMENT_COLUMNS)})"  # noqa: S608 (constant SQL)
    f" VALUES ({', '.join(['%s'] * len(_PAYMENT_COLUMNS))})"
    " ON CONFLICT (idempotency_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _PAYMENT_COLUMNS if c not in _PAYMENT_KEYS)
    + " WHERE shop_payment.order_id = excluded.order_id RETURNING id"
)
# Serialises the sequence lift of concurrent applies, so the sequence never goes back.
_SEQUENCE_LOCK = "shop.orders-sync:sequence"


class UnexpectedEvent(ValueError):
    """Not an order event this consumer applies, or one it cannot read: parked."""


class UnknownProduct(LookupError):
    """An order line names a product the monolith does not have (yet): retried, parked."""


@dataclass(frozen=True)
class LegacyOrder:
    order: dict[str, Any]  # shop_order's columns
    lines: list[dict[str, Any]]  # shop_orderline's columns but order_id
    payments: list[dict[str, Any]]  # shop_payment's columns but order_id


def _field(data: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise UnexpectedEvent(f"{where}: {name} is missing")
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise UnexpectedEvent(f"{where}: {name} is {value!r}, not {kind}")
    return value


def _text(data: Any, name: str, where: str, limit: int, *, allow_blank: bool = True) -> str:
    value: str = _field(data, name, str, where)
    if len(value) > limit or (not allow_blank and not value.strip()):
        raise UnexpectedEvent(f"{where}: {name} {value!r} does not fit the legacy column")
    return value


def _money(data: Any, name: str, where: str) -> Decimal:
    raw = _field(data, name, str, where)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise UnexpectedEvent(f"{where}: {name} {raw!r} is not a decimal") from None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")) or abs(value) >= 10**8:
        raise UnexpectedEvent(f"{where}: {name} {raw!r} does not fit numeric(10,2)")
    return value


def _when(data: Any, name: str, where: str) -> datetime:
    raw = _field(data, name, str, where)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise UnexpectedEvent(f"{where}: {name} {raw!r} is not ISO 8601") from None
    if value.tzinfo is None:
        raise UnexpectedEvent(f"{where}: {name} {raw!r} has no UTC offset")
    return value.astimezone(ZoneInfo(settings.TIME_ZONE))


def _int(data: Any, name: str, where: str, *, minimum: int = 1) -> int:
    value: int = _field(data, name, int, where)
    if value < minimum or value > 2**31 - 1:
        raise UnexpectedEvent(f"{where}: {name} {value} is out of range")
    return value


def decode(envelope: Envelope) -> LegacyOrder:
    """The legacy rows an order event carries, or ``UnexpectedEvent`` saying what is wrong."""
    if envelope["event_type"] != EVENT_TYPE or envelope["aggregate_type"] != AGGREGATE:
        raise UnexpectedEvent(
            f"{envelope['event_type']} ({envelope['aggregate_type']}) is not applied here"
        )
    payload = envelope["payload"]
    raw = _field(payload, "order", dict, "event")
    order_id = _int(raw, "id", "order")
    if str(order_id) != str(envelope["aggregate_id"]):
        raise UnexpectedEvent(
            f"order {order_id} in an event of aggregate {envelope['aggregate_id']}"
        )
    where = f"order {order_id}"
    user_id = raw.get("user_id")
    if user_id is not None:
        user_id = _int(raw, "user_id", where)
    status = _field(raw, "status", str, where)
    if status not in ORDER_STATUSES:
        raise UnexpectedEvent(f"{where}: unknown status {status!r}")
    country = _text(raw, "ship_country", where, 2)
    order = {
        "id": order_id,
        "user_id": user_id,
        "email": _text(raw, "email", where, 254, allow_blank=False),
        "status": status,
        "total": _money(raw, "total", where),
        "cur": _text(raw, "cur", where, 3, allow_blank=False),
        "ship_name": _text(raw, "ship_name", where, 200),
        "ship_line1": _text(raw, "ship_line1", where, 200),
        "ship_line2": _text(raw, "ship_line2", where, 200),
        "ship_city": _text(raw, "ship_city", where, 100),
        "ship_zip": _text(raw, "ship_zip", where, 20),
        "ship_country": country,
        "created": _when(raw, "created", where),
        "updated": _when(raw, "updated", where),
    }
    lines = []
    for index, line in enumerate(_field(payload, "lines", list, "event")):
        at = f"{where} line {index}"
        lines.append(
            {
                "product_id": _int(line, "product_id", at),
                "sku": _text(line, "sku", at, 32),
                "name": _text(line, "name", at, 200),
                "unit_price": _money(line, "unit_price", at),
                "qty": _int(line, "qty", at),
            }
        )
    payments = []
    for index, payment in enumerate(_field(payload, "payments", list, "event")):
        at = f"{where} payment {index}"
        payment_status = _field(payment, "status", str, at)
        if payment_status not in PAYMENT_STATUSES:
            raise UnexpectedEvent(f"{at}: unknown status {payment_status!r}")
        payments.append(
            {
                # The service's payment id: the same id on both sides (the legacy JSON
                # shows it); an event without one lets the table number it.
                "id": _int(payment, "id", at)
                if isinstance(payment, dict) and "id" in payment
                else None,
                "amount": _money(payment, "amount", at),
                "cur": _text(payment, "cur", at, 3, allow_blank=False),
                "status": payment_status,
                "gateway_ref": _text(payment, "gateway_ref", at, 64),
                "decline_code": _text(payment, "decline_code", at, 32),
                "card_last4": _text(payment, "card_last4", at, 4),
                "idempotency_key": _text(payment, "idempotency_key", at, 64, allow_blank=False),
                "created": _when(payment, "created", at),
            }
        )
    return LegacyOrder(order=order, lines=lines, payments=payments)


def apply(cursor: Any, envelope: Envelope) -> None:
    """The ``outbox.Consumer`` handler: the event's rows, in the consumer's transaction."""
    mark_transaction_origin(cursor, ORIGIN)
    legacy = decode(envelope)
    order = dict(legacy.order)
    order_id = order["id"]
    if order["user_id"] is not None:
        cursor.execute("SELECT 1 FROM auth_user WHERE id = %s", (order["user_id"],))
        if cursor.fetchone() is None:
            log.warning(
                "order %s: user %s is not in auth_user; kept without a user",
                order_id,
                order["user_id"],
            )
            order["user_id"] = None
    product_ids = sorted({line["product_id"] for line in legacy.lines})
    if product_ids:
        cursor.execute("SELECT id FROM shop_product WHERE id = ANY(%s)", (product_ids,))
        missing = sorted(set(product_ids) - {row[0] for row in cursor.fetchall()})
        if missing:
            raise UnknownProduct(
                f"order {order_id}: product(s) {', '.join(map(str, missing))} not in shop_product"
            )
    cursor.execute(_UPSERT_ORDER, [order[c] for c in _ORDER_COLUMNS])
    cursor.execute("DELETE FROM shop_orderline WHERE order_id = %s", (order_id,))
    for line in legacy.lines:
        cursor.execute(
            "INSERT INTO shop_orderline (order_id, product_id, sku, name, unit_price, qty)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (order_id, line["product_id"], line["sku"], line["name"], line["unit_price"],
             line["qty"]),
        )  # fmt: skip
    for payment in legacy.payments:
        row = {**payment, "order_id": order_id}
        if row["id"] is None:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('shop_payment', 'id'))")
            row["id"] = cursor.fetchone()[0]
        cursor.execute(_UPSERT_PAYMENT, [row[c] for c in _PAYMENT_COLUMNS])
        if cursor.fetchone() is None:
            raise UnexpectedEvent(
                f"order {order_id}: payment {payment['idempotency_key']!r} belongs to another order"
            )
    _lift_order_sequence(cursor, order_id)
    for payment in legacy.payments:
        _lift_sequence(cursor, "shop_payment", payment["id"])


def _lift_order_sequence(cursor: Any, order_id: int) -> None:
    """``shop_order_id_seq`` past ``order_id`` (never back): the next local order is above."""
    _lift_sequence(cursor, "shop_order", order_id)


def _lift_sequence(cursor: Any, table: str, row_id: int) -> None:
    """``table``'s id sequence past ``row_id``, never back (serialised per table)."""
    cursor.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{_SEQUENCE_LOCK}:{table}",)
    )
    cursor.execute(
        "SELECT setval(s.seq, GREATEST(%s, coalesce(pg_sequence_last_value(s.seq), 0)))"
        " FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) AS s",
        (row_id, table),
    )
    cursor.fetchone()
