"""The order fold, the event codec, optimistic concurrency and the projection rebuild."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from orders_service.adapters.event_store import ConcurrencyConflict, EventStore, OrderRepository
from orders_service.domain import OrderLine, ShippingAddress
from orders_service.domain.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderShipped,
    PaymentAuthorised,
    StockReleased,
    StockReserved,
    from_data,
    to_data,
)
from orders_service.domain.order import InvalidTransition, fold
from orders_service.service_layer.projections import rebuild
from sqlalchemy import Engine, text

AT = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
PLACED = OrderPlaced(
    order_id=1_000_000_001,
    saga_id="s",
    user_id=42,
    email="a@x.de",
    shipping=ShippingAddress("Ada", "1 Way", "Berlin", "10115", "DE"),
    lines=(OrderLine(1, "SKU-1", "Mug", 1250, 2),),
    currency="EUR",
    total_minor=2500,
    at=AT,
)
AUTHORISED = PaymentAuthorised(1_000_000_000, "SIM-X", 2500, "4242", "key", AT)
HAPPY = [PLACED, StockReserved("r", AT), AUTHORISED, OrderConfirmed(AT), OrderShipped(AT)]


def test_fold_follows_the_status_pipeline() -> None:
    order = fold(HAPPY[:1])
    assert order is not None
    assert (order.status, order.visible) == ("pending", False)
    order = fold(HAPPY)
    assert order is not None
    assert (order.status, order.version, order.visible) == ("shipped", 5, True)
    assert [p.status for p in order.payments] == ["captured"]


def test_invalid_transitions_raise() -> None:
    with pytest.raises(InvalidTransition):
        fold([PLACED, OrderConfirmed(AT)])
    with pytest.raises(InvalidTransition):
        fold([StockReserved("r", AT)])
    with pytest.raises(InvalidTransition):
        fold([*HAPPY[:2], OrderCancelled("timeout", AT), StockReleased("x", AT)])


def test_every_event_survives_the_codec() -> None:
    for event in [*HAPPY, OrderCancelled("staff", AT)]:
        assert from_data(type(event).__name__, to_data(event)) == event


def test_concurrent_appends_one_conflict_then_a_retry_succeeds(clean: Engine) -> None:
    with clean.begin() as conn:
        OrderRepository(conn).save(None, [PLACED])
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []

    def writer(reservation: str) -> None:
        with clean.begin() as conn:
            orders = OrderRepository(conn)
            order = orders.get(PLACED.order_id)
            barrier.wait()
            try:
                orders.save(order, [StockReserved(reservation, AT)])
                outcomes.append("ok")
            except ConcurrencyConflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(r,)) for r in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(outcomes) == ["conflict", "ok"]
    with clean.begin() as conn:  # the loser retries from a fresh read
        orders = OrderRepository(conn)
        order = orders.get(PLACED.order_id)
        saved = orders.save(order, [AUTHORISED])
    assert saved.version == 3
    with clean.connect() as conn:
        assert len(EventStore(conn).load(PLACED.order_id)) == 3


def _summaries(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM order_summaries ORDER BY order_id"))
        return [tuple(r) for r in rows]


def test_rebuild_equals_the_inline_projection(clean: Engine) -> None:
    with clean.begin() as conn:
        orders = OrderRepository(conn)
        for n in range(5):
            placed = replace(PLACED, order_id=10 + n)
            orders.save(None, [placed, *HAPPY[1 : 1 + n]])
    inline = _summaries(clean)
    assert len(inline) == 4  # the pending one is not visible
    report = rebuild(clean)
    assert (report.streams, report.visible) == (5, 4)
    assert _summaries(clean) == inline
    rebuild(clean)  # twice: the swapped-in table can be rebuilt again
    assert _summaries(clean) == inline
