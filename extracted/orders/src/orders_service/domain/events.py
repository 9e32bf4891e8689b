"""Order events: what happened to an order, past tense, each with its instant ``at`` (UTC).

Events are stored as ``(event_type, data)``: ``to_data`` and ``from_data`` are the only
codec, so the stored JSON shape is defined here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from acl.orders.domain import (
    OrderLine,
    OrderSnapshot,
    OrderStatus,
    Payment,
    PaymentStatus,
    ShippingAddress,
)


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    order_id: int
    saga_id: str
    user_id: int | None  # None: a guest, known by email
    email: str
    shipping: ShippingAddress
    lines: tuple[OrderLine, ...]
    currency: str
    total_minor: int
    at: datetime


@dataclass(frozen=True, slots=True)
class StockReserved:
    reservation_id: str  # the reservation's command id (a release names it)
    at: datetime


@dataclass(frozen=True, slots=True)
class StockRejected:
    sku: str
    available: int | None
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PaymentAuthorised:
    payment_id: int
    gateway_ref: str
    amount_minor: int
    card_last4: str
    idempotency_key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PaymentDeclined:
    payment_id: int
    gateway_ref: str
    amount_minor: int
    decline_code: str
    card_last4: str
    idempotency_key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderConfirmed:
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    reason: str  # payment_declined, timeout, staff, ...
    at: datetime


@dataclass(frozen=True, slots=True)
class StockReleased:
    release_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PaymentVoided:
    payment_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class PaymentRefunded:
    payment_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderShipped:
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderDelivered:
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderImported:
    order: OrderSnapshot  # the whole legacy order, through the ACL
    at: datetime


Event = (
    OrderPlaced | StockReserved | StockRejected | PaymentAuthorised | PaymentDeclined
    | OrderConfirmed | OrderCancelled | StockReleased | PaymentVoided | PaymentRefunded
    | OrderShipped | OrderDelivered | OrderImported
)  # fmt: skip

EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        OrderPlaced, StockReserved, StockRejected, PaymentAuthorised, PaymentDeclined,
        OrderConfirmed, OrderCancelled, StockReleased, PaymentVoided, PaymentRefunded,
        OrderShipped, OrderDelivered, OrderImported,
    )
}  # fmt: skip


def event_type(event: Event) -> str:
    return type(event).__name__


# --- codec -------------------------------------------------------------------------------


def _address(value: ShippingAddress) -> dict[str, str]:
    return {"name": value.name, "line1": value.line1, "line2": value.line2,
            "city": value.city, "zip": value.zip, "country": value.country}  # fmt: skip


def _line(value: OrderLine) -> dict[str, Any]:
    return {"product_id": value.product_id, "sku": value.sku, "name": value.name,
            "unit_price_minor": value.unit_price_minor, "quantity": value.quantity}  # fmt: skip


def _payment(value: Payment) -> dict[str, Any]:
    return {"payment_id": value.payment_id, "amount_minor": value.amount_minor,
            "status": str(value.status), "gateway_ref": value.gateway_ref,
            "idempotency_key": value.idempotency_key, "created_at": value.created_at.isoformat(),
            "decline_code": value.decline_code, "card_last4": value.card_last4}  # fmt: skip


def snapshot_to_data(value: OrderSnapshot) -> dict[str, Any]:
    return {
        "order_id": value.order_id, "user_id": value.user_id, "email": value.email,
        "status": str(value.status), "currency": value.currency,
        "total_minor": value.total_minor, "shipping": _address(value.shipping),
        "lines": [_line(x) for x in value.lines],
        "payments": [_payment(x) for x in value.payments],
        "created_at": value.created_at.isoformat(), "updated_at": value.updated_at.isoformat(),
    }  # fmt: skip


def snapshot_from_data(data: dict[str, Any]) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=data["order_id"], user_id=data["user_id"], email=data["email"],
        status=OrderStatus(data["status"]), currency=data["currency"],
        total_minor=data["total_minor"], shipping=ShippingAddress(**data["shipping"]),
        lines=tuple(OrderLine(**x) for x in data["lines"]),
        payments=tuple(payment_from_data(x) for x in data["payments"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )  # fmt: skip


def payment_from_data(data: dict[str, Any]) -> Payment:
    return Payment(
        payment_id=data["payment_id"], amount_minor=data["amount_minor"],
        status=PaymentStatus(data["status"]), gateway_ref=data["gateway_ref"],
        idempotency_key=data["idempotency_key"],
        created_at=datetime.fromisoformat(data["created_at"]),
        decline_code=data["decline_code"], card_last4=data["card_last4"],
    )  # fmt: skip


def to_data(event: Event) -> dict[str, Any]:
    """The event's JSON document (what ``order_events.data`` holds)."""
    data: dict[str, Any] = {}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, datetime):
            data[f.name] = value.isoformat()
        elif isinstance(value, ShippingAddress):
            data[f.name] = _address(value)
        elif isinstance(value, OrderSnapshot):
            data[f.name] = snapshot_to_data(value)
        elif f.name == "lines":
            data[f.name] = [_line(x) for x in value]
        else:
            data[f.name] = value
    return data


def from_data(kind: str, data: dict[str, Any]) -> Event:
    """The event ``to_data`` stored; raises ``KeyError`` for an unknown event type."""
    cls = EVENT_TYPES[kind]
    values: dict[str, Any] = {}
    for f in fields(cls):
        raw = data[f.name]
        if f.name == "at":
            values[f.name] = datetime.fromisoformat(raw)
        elif f.name == "shipping":
            values[f.name] = ShippingAddress(**raw)
        elif f.name == "lines":
            values[f.name] = tuple(OrderLine(**x) for x in raw)
        elif f.name == "order":
            values[f.name] = snapshot_from_data(raw)
        else:
            values[f.name] = raw
    return cls(**values)
