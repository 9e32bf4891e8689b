"""Transactional outbox for PostgreSQL, relayed to Celery, with an idempotent inbox.

Producer: ``record_event(cursor, ...)`` in the business transaction; ``Relay`` (or
``python -m outbox relay``) publishes in order. Consumer: ``Consumer`` +
``make_consumer_task`` (or the ``claim``/``is_parked``/``park`` building blocks).
Schema: ``outbox.schema.ddl()``. See outbox/README.md.
"""

from outbox.envelope import Envelope
from outbox.inbox import (
    Consumer,
    Outcome,
    advance_version,
    applied_version,
    claim,
    configure_celery,
    is_parked,
    lock_aggregate,
    make_consumer_task,
    park,
    parked_aggregates,
)
from outbox.relay import Relay, RelayConfig
from outbox.routing import Destination, Route, Router, lane_of
from outbox.schema import ddl, drop_ddl, inbox_ddl, outbox_ddl
from outbox.writer import (
    NewEvent,
    RecordedEvent,
    configure,
    mark_transaction_origin,
    record_event,
    record_events,
)

__all__ = [
    "Consumer",
    "Destination",
    "Envelope",
    "NewEvent",
    "Outcome",
    "RecordedEvent",
    "Relay",
    "RelayConfig",
    "Route",
    "Router",
    "advance_version",
    "applied_version",
    "claim",
    "configure",
    "configure_celery",
    "ddl",
    "drop_ddl",
    "inbox_ddl",
    "is_parked",
    "lane_of",
    "lock_aggregate",
    "make_consumer_task",
    "mark_transaction_origin",
    "outbox_ddl",
    "park",
    "parked_aggregates",
    "record_event",
    "record_events",
]
