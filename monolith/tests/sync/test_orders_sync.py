"""The reverse sync of step 5: the orders service's order events -> the legacy order tables,
through the outbox library's Consumer on a connection of its own (as the worker runs it)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from shop.catalog.models import Product
from shop.orders.models import Order
from shop.payments.models import Payment
from shop.sync import orders as orders_sync

from outbox import Consumer, Outcome

ORDER_ID = 1_000_000_007


def order_event(
    version: int,
    *,
    order_id: int = ORDER_ID,
    status: str = "paid",
    user_id: int | None = None,
    lines: list[dict[str, Any]] | None = None,
    payments: list[dict[str, Any]] | None = None,
    updated: str = "2026-07-01T10:05:00+00:00",
) -> dict[str, Any]:
    payment = {"amount": "25.00", "cur": "EUR", "status": "captured", "gateway_ref": "SIM-1",
               "decline_code": "", "card_last4": "4242", "idempotency_key": f"pay-{order_id}",
               "created": "2026-07-01T10:00:01+00:00"}  # fmt: skip
    return {
        "event_id": str(uuid.uuid4()),
        "aggregate_type": "orders.order",
        "aggregate_id": str(order_id),
        "version": version,
        "event_type": "orders.order.changed.v1",
        "payload": {
            "change": "confirmed",
            "order": {"id": order_id, "user_id": user_id, "email": "guest@example.com",
                      "status": status, "total": "25.00", "cur": "EUR", "ship_name": "Guest G",
                      "ship_line1": "Weg 1", "ship_line2": "", "ship_city": "Berlin",
                      "ship_zip": "10115", "ship_country": "DE",
                      "created": "2026-07-01T10:00:00+00:00", "updated": updated},
            "lines": lines if lines is not None else [],
            "payments": payments if payments is not None else [payment],
        },
        "headers": {"origin": "orders"},
        "created_at": "2026-07-01T10:05:00+00:00",
    }  # fmt: skip


def line(product: Product, qty: int = 2) -> dict[str, Any]:
    return {"product_id": product.pk, "sku": product.sku, "name": product.nm,
            "unit_price": "12.50", "qty": qty}  # fmt: skip


def order_sequence() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT last_value FROM shop_order_id_seq")
        return int(cur.fetchone()[0])


def outbox_rows() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM outbox")
        return int(cur.fetchone()[0])


@pytest.fixture
def consumer(transactional_db: None) -> Iterator[Consumer]:
    """The worker's consumer (same name, handler and ordering) on the test database."""
    opened: list[psycopg.Connection[Any]] = []
    db = connection.settings_dict

    def connect() -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            psycopg.conninfo.make_conninfo(
                dbname=db["NAME"],
                host=db["HOST"] or "",
                port=str(db["PORT"] or ""),
                user=db["USER"] or "",
                password=db["PASSWORD"] or "",
            )
        )
        conn.execute("SELECT set_config('TimeZone', %s, false)", (settings.TIME_ZONE,))
        conn.commit()
        opened.append(conn)
        return conn

    with connection.cursor() as cur:
        cur.execute("SELECT last_value, is_called FROM shop_order_id_seq")
        sequence = cur.fetchone()
    yield Consumer(
        orders_sync.CONSUMER, orders_sync.apply, connect=connect, ordering="latest",
        max_attempts=2, backoff_base=0.01,
    )  # fmt: skip
    for conn in opened:
        conn.close()
    # The inbox tables and the sequence are outside what the test database flush resets.
    with connection.cursor() as cur:
        for table in ("inbox", "inbox_applied_version", "inbox_deliveries", "parked_events"):
            cur.execute(f"DELETE FROM {table} WHERE consumer = %s", [orders_sync.CONSUMER])
        cur.execute("SELECT setval('shop_order_id_seq', %s, %s)", list(sequence))


def test_a_new_order_arrives_whole(
    consumer: Consumer, customer: Any, make_product: Callable[..., Product]
) -> None:
    mug, cup = make_product(stock=5), make_product(stock=5)
    events = outbox_rows()
    event = order_event(1, user_id=customer.pk, lines=[line(mug, 1), line(cup, 1)])
    assert consumer.process(event) is Outcome.APPLIED
    order = Order.objects.get(pk=ORDER_ID)
    assert (order.user_id, order.email, order.status, order.total, order.cur) == (
        customer.pk, "guest@example.com", "paid", Decimal("25.00"), "EUR"
    )  # fmt: skip
    # Stored as the instant; read back as Europe/Berlin wall-clock time (CEST, UTC+2).
    assert (order.created, order.updated) == (datetime(2026, 7, 1, 12, 0),
                                              datetime(2026, 7, 1, 12, 5))  # fmt: skip
    assert [(li.product_id, li.sku, li.qty, li.unit_price) for li in order.lines.all()] == [
        (mug.pk, mug.sku, 1, Decimal("12.50")), (cup.pk, cup.sku, 1, Decimal("12.50"))
    ]  # fmt: skip
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.idempotency_key, payment.card_last4) == (
        "captured", f"pay-{ORDER_ID}", "4242"
    )  # fmt: skip
    assert payment.created == datetime(2026, 7, 1, 12, 0, 1)
    stock = Product.objects.filter(pk__in=[mug.pk, cup.pk]).values_list("qty", flat=True)
    assert list(stock) == [5, 5]  # stock moved in the saga's reservation, not here
    assert outbox_rows() == events  # nothing echoes back
    # The sequence is past the applied id: an order placed here after a rollback is above.
    assert order_sequence() >= ORDER_ID
    local = Order.objects.create(
        email="x@example.com", total="1.00", ship_name="x", ship_line1="x", ship_city="x",
        ship_zip="x", ship_country="DE",
    )  # fmt: skip
    assert local.pk > ORDER_ID


def test_a_newer_version_updates_and_replaces(
    consumer: Consumer, make_product: Callable[..., Product]
) -> None:
    mug, cup = make_product(), make_product()
    assert consumer.process(order_event(1, status="new", lines=[line(mug)], payments=[
        {"amount": "25.00", "cur": "EUR", "status": "authorised", "gateway_ref": "SIM-1",
         "decline_code": "", "card_last4": "4242", "idempotency_key": "pay-x",
         "created": "2026-07-01T10:00:01+00:00"}])) is Outcome.APPLIED  # fmt: skip
    shipped = order_event(
        3, status="shipped", lines=[line(cup, 3)], updated="2026-12-01T09:00:00+00:00",
        payments=[{"amount": "25.00", "cur": "EUR", "status": "captured", "gateway_ref": "SIM-1",
                   "decline_code": "", "card_last4": "4242", "idempotency_key": "pay-x",
                   "created": "2026-07-01T10:00:01+00:00"}],
    )  # fmt: skip
    assert consumer.process(shipped) is Outcome.APPLIED  # a gap is fine: the latest wins
    order = Order.objects.get(pk=ORDER_ID)
    assert order.status == "shipped"
    assert order.updated == datetime(2026, 12, 1, 10, 0)  # CET, UTC+1
    assert [(li.product_id, li.qty) for li in order.lines.all()] == [(cup.pk, 3)]
    assert [p.status for p in Payment.objects.filter(order=order)] == ["captured"]
    # An older version arriving late changes nothing; a redelivered event neither.
    assert consumer.process(order_event(2, status="cancelled")) is Outcome.STALE
    assert consumer.process(shipped) is Outcome.DUPLICATE
    assert Order.objects.get(pk=ORDER_ID).status == "shipped"
    assert Order.objects.count() == 1


def test_an_unknown_user_keeps_the_order_without_one(
    consumer: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="shop.sync.orders"):
        assert consumer.process(order_event(1, user_id=987_654)) is Outcome.APPLIED
    assert Order.objects.get(pk=ORDER_ID).user_id is None
    assert "user 987654 is not in auth_user" in caplog.text


def test_an_unknown_product_parks_the_order_until_released(consumer: Consumer) -> None:
    ghost = {"product_id": 2_000_000_001, "sku": "GHOST", "name": "Ghost", "unit_price": "1.00",
             "qty": 1}  # fmt: skip
    assert consumer.process(order_event(1, lines=[ghost])) is Outcome.PARKED
    assert consumer.process(order_event(2, lines=[ghost])) is Outcome.PARKED_BEHIND
    assert not Order.objects.filter(pk=ORDER_ID).exists()
    # The fix: the product arrives (as the catalog's reverse sync would bring it).
    Product.objects.create(id=2_000_000_001, sku="GHOST", nm="Ghost", prc="1.00")
    released = consumer.release("orders.order", str(ORDER_ID))
    assert (released.applied, released.remaining, released.error) == (2, 0, None)
    assert Order.objects.get(pk=ORDER_ID).lines.get().sku == "GHOST"


@pytest.mark.parametrize(
    "broken",
    [
        {"event_type": "orders.order.placed.v1"},
        {"aggregate_id": "1"},
        {"payload": {"order": {"id": ORDER_ID}, "lines": [], "payments": []}},
    ],
)
def test_an_event_it_cannot_read_is_parked(consumer: Consumer, broken: dict[str, Any]) -> None:
    assert consumer.process({**order_event(1), **broken}) is Outcome.PARKED
    assert not Order.objects.filter(pk=ORDER_ID).exists()


def test_decode_refuses_what_does_not_fit_the_legacy_columns() -> None:
    event = order_event(1)
    event["payload"]["order"]["total"] = "12.345"
    with pytest.raises(orders_sync.UnexpectedEvent, match="numeric"):
        orders_sync.decode(event)  # type: ignore[arg-type]
    event = order_event(1)
    event["payload"]["order"]["created"] = "2026-07-01T10:00:00"
    with pytest.raises(orders_sync.UnexpectedEvent, match="offset"):
        orders_sync.decode(event)  # type: ignore[arg-type]
    event = order_event(1, status="pending")
    with pytest.raises(orders_sync.UnexpectedEvent, match="status"):
        orders_sync.decode(event)  # type: ignore[arg-type]


# outbox.make_consumer_task hands Celery a ``queue`` task option (None here), which Celery
# reports as deprecated when the task is first used.
@pytest.mark.filterwarnings("ignore::celery.exceptions.CDeprecationWarning")
def test_the_worker_consumes_orders_on_its_own_queue() -> None:
    from shop.sync import consumer as worker

    assert worker.app.conf.task_routes[orders_sync.TASK_NAME] == {"queue": "shop.orders-sync"}
    assert worker.app.tasks[orders_sync.TASK_NAME].consumer is worker.orders_consumer
    assert (worker.orders_consumer.name, worker.orders_consumer.ordering) == (
        "shop.orders-sync", "latest"
    )  # fmt: skip
    assert worker.app.tasks["shop.catalog.apply"].consumer is worker.consumer
    assert "-Q shop.catalog-sync,shop.orders-sync" in (worker.__doc__ or "")
