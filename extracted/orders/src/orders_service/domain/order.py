"""The order aggregate: its state is ``fold(events)``; ``apply`` holds every transition rule.

An order in ``pending`` or ``rejected`` (or cancelled before its stock was ever reserved)
is not *visible*: in the monolith such an order never existed outside its transaction, so
it is neither listed, nor projected, nor synced back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from acl.orders.domain import (
    OrderLine,
    OrderSnapshot,
    OrderStatus,
    Payment,
    PaymentStatus,
    ShippingAddress,
)

from orders_service.domain.events import (
    Event,
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderImported,
    OrderPlaced,
    OrderShipped,
    PaymentAuthorised,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    StockRejected,
    StockReleased,
    StockReserved,
    event_type,
)

TERMINAL = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.DELIVERED})
CANCELLABLE = frozenset(
    {OrderStatus.PENDING, OrderStatus.AWAITING_PAYMENT, OrderStatus.AUTHORISED, OrderStatus.PAID}
)


class DomainError(Exception):
    """A rule of the order was broken."""


class InvalidTransition(DomainError):
    def __init__(self, order_id: int | None, status: OrderStatus | None, event: str) -> None:
        self.order_id, self.status, self.event = order_id, status, event
        where = "a new stream" if status is None else f"status {status}"
        super().__init__(f"order {order_id}: {event} is not allowed in {where}")


@dataclass(frozen=True, slots=True)
class Order:
    order_id: int
    version: int
    status: OrderStatus
    user_id: int | None
    email: str
    currency: str
    total_minor: int
    shipping: ShippingAddress
    lines: tuple[OrderLine, ...]
    payments: tuple[Payment, ...]
    created_at: datetime
    updated_at: datetime
    visible: bool
    saga_id: str | None = None
    reservation_id: str | None = None
    released: bool = False
    cancel_reason: str | None = None
    rejection: StockRejected | None = None

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            order_id=self.order_id, user_id=self.user_id, email=self.email, status=self.status,
            currency=self.currency, total_minor=self.total_minor, shipping=self.shipping,
            lines=self.lines, payments=self.payments, created_at=self.created_at,
            updated_at=self.updated_at,
        )  # fmt: skip

    def payment(self, status: PaymentStatus) -> Payment | None:
        return next((p for p in self.payments if p.status == status), None)


def _require(order: Order, allowed: Iterable[OrderStatus], event: Event) -> None:
    if order.status not in allowed:
        raise InvalidTransition(order.order_id, order.status, event_type(event))


def _set_payment(order: Order, payment_id: int, old: PaymentStatus, new: PaymentStatus,
                 event: Event) -> tuple[Payment, ...]:  # fmt: skip
    found = False
    payments = []
    for p in order.payments:
        if p.payment_id == payment_id and p.status == old:
            p, found = replace(p, status=new), True
        payments.append(p)
    if not found:
        raise InvalidTransition(order.order_id, order.status, event_type(event))
    return tuple(payments)


def apply(order: Order | None, event: Event) -> Order:
    """The order after ``event``; ``InvalidTransition`` when the event breaks a rule."""
    if order is None:
        if isinstance(event, OrderPlaced):
            return Order(
                order_id=event.order_id, version=1, status=OrderStatus.PENDING,
                user_id=event.user_id, email=event.email, currency=event.currency,
                total_minor=event.total_minor, shipping=event.shipping, lines=event.lines,
                payments=(), created_at=event.at, updated_at=event.at, visible=False,
                saga_id=event.saga_id,
            )  # fmt: skip
        if isinstance(event, OrderImported):
            legacy = event.order
            if legacy.status in (OrderStatus.PENDING, OrderStatus.REJECTED):
                raise InvalidTransition(legacy.order_id, None, event_type(event))
            return Order(
                order_id=legacy.order_id, version=1, status=legacy.status,
                user_id=legacy.user_id, email=legacy.email, currency=legacy.currency,
                total_minor=legacy.total_minor, shipping=legacy.shipping, lines=legacy.lines,
                payments=legacy.payments, created_at=legacy.created_at,
                updated_at=legacy.updated_at, visible=True,
            )  # fmt: skip
        raise InvalidTransition(None, None, event_type(event))
    o = replace(order, version=order.version + 1, updated_at=event.at)
    if isinstance(event, OrderPlaced | OrderImported):
        raise InvalidTransition(order.order_id, order.status, event_type(event))
    if isinstance(event, StockReserved):
        _require(order, [OrderStatus.PENDING], event)
        return replace(o, status=OrderStatus.AWAITING_PAYMENT, visible=True,
                       reservation_id=event.reservation_id)  # fmt: skip
    if isinstance(event, StockRejected):
        _require(order, [OrderStatus.PENDING], event)
        return replace(o, status=OrderStatus.REJECTED, rejection=event)
    if isinstance(event, PaymentAuthorised | PaymentDeclined):
        _require(order, [OrderStatus.AWAITING_PAYMENT], event)
        approved = isinstance(event, PaymentAuthorised)
        payment = Payment(
            payment_id=event.payment_id, amount_minor=event.amount_minor,
            status=PaymentStatus.AUTHORISED if approved else PaymentStatus.DECLINED,
            gateway_ref=event.gateway_ref, idempotency_key=event.idempotency_key,
            created_at=event.at, decline_code="" if approved else event.decline_code,  # type: ignore[union-attr]
            card_last4=event.card_last4,
        )  # fmt: skip
        status = OrderStatus.AUTHORISED if approved else order.status
        return replace(o, status=status, payments=(*order.payments, payment))
    if isinstance(event, OrderConfirmed):
        _require(order, [OrderStatus.AUTHORISED], event)
        payments = tuple(
            replace(p, status=PaymentStatus.CAPTURED) if p.status == PaymentStatus.AUTHORISED
            else p for p in order.payments
        )  # fmt: skip
        return replace(o, status=OrderStatus.PAID, payments=payments)
    if isinstance(event, OrderCancelled):
        _require(order, CANCELLABLE, event)
        return replace(o, status=OrderStatus.CANCELLED, cancel_reason=event.reason)
    if isinstance(event, StockReleased):
        _require(order, CANCELLABLE, event)
        return replace(o, released=True)
    if isinstance(event, PaymentVoided):
        payments = _set_payment(order, event.payment_id, PaymentStatus.AUTHORISED,
                                PaymentStatus.VOIDED, event)  # fmt: skip
        voided_status = order.status
        if order.status == OrderStatus.AUTHORISED:  # the authorisation is gone
            voided_status = OrderStatus.AWAITING_PAYMENT
        return replace(o, payments=payments, status=voided_status)
    if isinstance(event, PaymentRefunded):
        payments = _set_payment(order, event.payment_id, PaymentStatus.CAPTURED,
                                PaymentStatus.REFUNDED, event)  # fmt: skip
        return replace(o, payments=payments)
    if isinstance(event, OrderShipped):
        _require(order, [OrderStatus.PAID], event)
        return replace(o, status=OrderStatus.SHIPPED)
    if isinstance(event, OrderDelivered):
        _require(order, [OrderStatus.SHIPPED], event)
        return replace(o, status=OrderStatus.DELIVERED)
    raise InvalidTransition(order.order_id, order.status, event_type(event))  # pragma: no cover


def fold(events: Iterable[Event], initial: Order | None = None) -> Order | None:
    """The order after ``events`` (None for an empty stream)."""
    order = initial
    for event in events:
        order = apply(order, event)
    return order
