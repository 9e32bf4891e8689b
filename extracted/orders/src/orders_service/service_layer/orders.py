"""Order changes outside checkout: staff move a paid order along (shipped, delivered)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from orders_service.adapters.event_store import ConcurrencyConflict, OrderRepository
from orders_service.domain import OrderSnapshot
from orders_service.domain.events import Event, OrderDelivered, OrderShipped
from orders_service.domain.order import InvalidTransition
from orders_service.service_layer.errors import InvalidOrderTransition, NotFound

STAFF_STATUSES: dict[str, type[OrderShipped] | type[OrderDelivered]] = {
    "shipped": OrderShipped,
    "delivered": OrderDelivered,
}
ATTEMPTS = 5


def order_change_status(engine: Engine, *, order_id: int, status: str,
                        actor: str) -> OrderSnapshot:  # fmt: skip
    """Append OrderShipped/OrderDelivered; retried from a fresh read on a concurrent append."""
    kind = STAFF_STATUSES[status]
    for attempt in range(ATTEMPTS):
        with engine.begin() as conn:
            orders = OrderRepository(conn)
            order = orders.get(order_id)
            if order is None or not order.visible:
                raise NotFound(f"Order {order_id} not found.")
            event: Event = kind(at=datetime.now(UTC))
            try:
                saved = orders.save(order, [event], {"actor": actor})
            except InvalidTransition:
                raise InvalidOrderTransition(
                    f"Order {order_id} cannot go from {order.status!r} to {status!r}.",
                    errors={"status": [f"Cannot change from {order.status} to {status}."]},
                ) from None
            except ConcurrencyConflict:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return saved.snapshot()
    raise AssertionError("unreachable")  # pragma: no cover
