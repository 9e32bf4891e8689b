"""The catalog sync consumer as a Celery app.

    celery -A catalog_service.entrypoints.consumer worker -Q catalog.events -P solo

One queue per consumer (bulkhead); with ``CATALOG_SYNC_LANES=N`` the relay spreads
aggregates over ``catalog.events.0..N-1`` and each lane gets its own ``-c 1`` worker, which
keeps every aggregate's events in order while lanes run in parallel. Under load a worker
applies up to ``CATALOG_SYNC_BATCH`` received events per transaction (outbox.batching;
default 100, 1 turns it off), in the worker's main process: hence ``-P solo``. Broker from
``CATALOG_BROKER_URL`` / ``REDIS_URL`` (Redis by default; ``amqp://`` works too).
Release a parked aggregate after a fix:

    python -m outbox parked release --consumer catalog_service.entrypoints.consumer:task \\
        catalog.product 42
"""

from __future__ import annotations

import logging

from celery import Celery

from catalog_service.service_layer.sync import build_consumer
from catalog_service.settings import get_settings
from outbox import configure_celery, make_consumer_task

TASK_NAME = "catalog.apply"

settings = get_settings()
logging.getLogger("catalog_service").setLevel(settings.log_level)

app = Celery("catalog_service", broker=settings.broker_url)
configure_celery(
    app, visibility_timeout=settings.sync_visibility_timeout, batch_size=settings.sync_batch
)
app.conf.update(task_default_queue=settings.sync_queue)

consumer = build_consumer(settings)
task = make_consumer_task(
    app,
    TASK_NAME,
    consumer,
    batch_size=settings.sync_batch,
    flush_interval=settings.sync_flush_interval,
)
