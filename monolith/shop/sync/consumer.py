"""The monolith's sync consumers as a Celery app (the reverse syncs of steps 4 and 5).

    DJANGO_SETTINGS_MODULE=shop.settings \\
        celery -A shop.sync.consumer worker -Q shop.catalog-sync,shop.orders-sync -P solo

One worker, two queues, two consumers (two inbox names), one task each:

* ``shop.catalog.apply`` on ``shop.catalog-sync`` (inbox ``shop.catalog-sync``): the catalog
  service's product events (relayed from the catalog database's outbox: ``python -m outbox
  relay --dsn $CATALOG_DATABASE_URL --task shop.catalog.apply --queue shop.catalog-sync``)
  to ``shop_product`` through ``shop.sync.apply``;
* ``shop.orders.apply`` on ``shop.orders-sync`` (inbox ``shop.orders-sync``): the orders
  service's ``orders.order.changed.v1`` events (``python -m outbox relay --dsn
  $ORDERS_DATABASE_URL --task shop.orders.apply --queue shop.orders-sync``) to
  ``shop_order``, ``shop_orderline`` and ``shop_payment`` through ``shop.sync.orders``.

Both with the outbox library's ``Consumer`` on the monolith's database: inbox dedupe,
"latest" version check, in-worker retries, then parking per aggregate. Release a parked
product or order after a fix:

    python -m outbox parked release --consumer shop.sync.consumer:task catalog.product 42
    python -m outbox parked release --consumer shop.sync.consumer:orders_task orders.order 7

Database: ``SHOP_SYNC_DATABASE_URL``, else ``DATABASE_URL``. Broker: ``SHOP_SYNC_BROKER_URL``,
else ``REDIS_URL``. ``SHOP_SYNC_METRICS_PORT`` serves ``/metrics``: events by outcome and
``outbox_echoes_suppressed_total`` (applied changes the writer did not send back).
"""

from __future__ import annotations

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
django.setup()

import psycopg  # noqa: E402  (Django first: the apply path imports shop modules)
from celery import Celery, signals  # noqa: E402
from django.conf import settings  # noqa: E402
from outbox.inbox import METRICS_REGISTRY  # noqa: E402
from prometheus_client import start_http_server  # noqa: E402

from outbox import Consumer, configure_celery, make_consumer_task  # noqa: E402
from shop.sync import orders  # noqa: E402
from shop.sync.apply import CONSUMER, apply  # noqa: E402

TASK_NAME = "shop.catalog.apply"
QUEUE = "shop.catalog-sync"

DATABASE_URL = os.environ.get("SHOP_SYNC_DATABASE_URL") or os.environ.get(
    "DATABASE_URL", settings.DEFAULT_DATABASE_URL
)


def connect() -> psycopg.Connection[Any]:
    conn = psycopg.connect(DATABASE_URL)
    # Legacy datetimes are naive Europe/Berlin wall-clock times, as Django stores them.
    conn.execute("SELECT set_config('TimeZone', %s, false)", (settings.TIME_ZONE,))
    conn.commit()
    return conn


app = Celery("shop_sync", broker=os.environ.get("SHOP_SYNC_BROKER_URL") or settings.REDIS_URL)
configure_celery(app, visibility_timeout=float(os.environ.get("SHOP_SYNC_VISIBILITY_TIMEOUT", 60)))
app.conf.update(task_default_queue=QUEUE)

consumer = Consumer(
    CONSUMER,
    apply,
    connect=connect,
    ordering="latest",  # full-state snapshots: newest wins
    max_attempts=int(os.environ.get("SHOP_SYNC_MAX_ATTEMPTS", 5)),
    backoff_base=float(os.environ.get("SHOP_SYNC_BACKOFF_BASE", 0.2)),
)
task = make_consumer_task(app, TASK_NAME, consumer)

orders_consumer = Consumer(
    orders.CONSUMER,
    orders.apply,
    connect=connect,
    ordering="latest",  # the whole order after each change: newest wins
    max_attempts=int(os.environ.get("SHOP_SYNC_MAX_ATTEMPTS", 5)),
    backoff_base=float(os.environ.get("SHOP_SYNC_BACKOFF_BASE", 0.2)),
)
orders_task = make_consumer_task(app, orders.TASK_NAME, orders_consumer)
# The relays name the queue of each task anyway; a task sent from here goes to the same.
app.conf.task_routes = {orders.TASK_NAME: {"queue": orders.QUEUE}, TASK_NAME: {"queue": QUEUE}}


def _metrics(**_: Any) -> None:
    port = os.environ.get("SHOP_SYNC_METRICS_PORT")
    if port:
        start_http_server(int(port), registry=METRICS_REGISTRY)


signals.worker_init.connect(_metrics, weak=False)
