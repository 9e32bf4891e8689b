"""The catalog sync consumer as a Celery app.

    celery -A catalog_service.entrypoints.consumer worker -Q catalog.events -P solo

One queue per consumer (bulkhead); with ``CATALOG_SYNC_LANES=N`` the relay spreads
aggregates over ``catalog.events.0..N-1`` and each lane gets its own ``-c 1`` worker, which
keeps every aggregate's events in order while lanes run in parallel. Under load a worker
applies up to ``CATALOG_SYNC_BATCH`` received events per transaction (outbox.batching;
default 100, 1 turns it off), in the worker's main process: hence ``-P solo``. Broker from
``CATALOG_BROKER_URL`` / ``REDIS_URL`` (Redis by default, through ``outbox.redis_transport``:
a whole prefetch window per round trip and one round trip per batch of acks, which is what
lets one worker keep well ahead of 1,000 changes/s; ``amqp://`` works too).
Logs go through ``shop_telemetry`` (JSON, or ``LOG_FORMAT=console``); each applied event is
a span, child of the request that wrote it, exported when ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set. With ``CATALOG_SYNC_METRICS_PORT`` the worker serves ``/metrics``: events handled
per consumer and outcome (applied, duplicate, stale, parked, parked-behind). Release a
parked aggregate after a fix:

    python -m outbox parked release --consumer catalog_service.entrypoints.consumer:task \\
        catalog.product 42
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals
from outbox.inbox import METRICS_REGISTRY
from prometheus_client import start_http_server
from shop_telemetry import configure_logging, configure_tracing

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


COMPONENT = "catalog-sync"


def _logging(loglevel: Any = None, **_: Any) -> None:
    """Connected: Celery leaves the root logger alone and ours formats its records too."""
    configure_logging(COMPONENT, loglevel or settings.log_level)
    logging.getLogger("catalog_service").setLevel(settings.log_level)


def _telemetry(**_: Any) -> None:
    """In the worker's main process, where ``-P solo`` applies the events."""
    configure_tracing(COMPONENT)
    if settings.sync_metrics_port is not None:
        start_http_server(settings.sync_metrics_port, registry=METRICS_REGISTRY)


signals.setup_logging.connect(_logging, weak=False)
signals.worker_init.connect(_telemetry, weak=False)
