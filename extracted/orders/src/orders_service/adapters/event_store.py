"""The event store: append-only order streams in ``order_events``, with optimistic
concurrency, an inline projection (``order_summaries``) and the reverse-sync outbox event,
all in the caller's transaction.

``append`` states the version the writer read; a concurrent writer that appended the same
version first makes the insert hit the primary key ``(order_id, version)``, which is
reported as :class:`ConcurrencyConflict` (inside a savepoint, so the caller's transaction
stays usable and can retry from a fresh read).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from acl.orders.legacy import (
    ORDER_AGGREGATE,
    ORDER_CHANGED_EVENT,
    order_to_sync_payload,
    status_to_legacy,
)
from outbox.writer import record_event
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from orders_service.domain.events import Event, event_type, from_data, snapshot_to_data, to_data
from orders_service.domain.order import Order, apply, fold

PRIMARY_KEY = "order_events_pkey"


class ConcurrencyConflict(Exception):
    """Another writer appended to the stream since the version this writer read."""

    def __init__(self, order_id: int, expected_version: int) -> None:
        self.order_id, self.expected_version = order_id, expected_version
        super().__init__(f"order {order_id}: the stream moved past version {expected_version}")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    order_id: int
    version: int
    event: Event
    metadata: Mapping[str, Any]
    position: int
    recorded_at: datetime


_INSERT = text(
    "INSERT INTO order_events (order_id, version, event_type, data, metadata) "
    "SELECT :order_id, :version, :event_type, CAST(:data AS jsonb), CAST(:metadata AS jsonb)"
)
_LOAD = text(
    "SELECT order_id, version, event_type, data, metadata, position, recorded_at "
    "FROM order_events WHERE order_id = :order_id ORDER BY version"
)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(
        order_id=row.order_id, version=row.version, event=from_data(row.event_type, row.data),
        metadata=row.metadata, position=row.position, recorded_at=row.recorded_at,
    )  # fmt: skip


class EventStore:
    """The raw streams on a connection whose transaction the caller owns."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def load(self, order_id: int) -> list[Event]:
        return [s.event for s in self.load_stored(order_id)]

    def load_stored(self, order_id: int) -> list[StoredEvent]:
        return [_stored(r) for r in self.connection.execute(_LOAD, {"order_id": order_id})]

    def append(
        self, order_id: int, expected_version: int, events: Sequence[Event],
        metadata: Mapping[str, Any] | None = None,
    ) -> int:  # fmt: skip
        """Append after ``expected_version``; returns the new version."""
        params = [
            {"order_id": order_id, "version": expected_version + i, "event_type": event_type(e),
             "data": _json(to_data(e)), "metadata": _json(metadata or {})}
            for i, e in enumerate(events, start=1)
        ]  # fmt: skip
        if not params:
            return expected_version
        try:
            with self.connection.begin_nested():
                self.connection.execute(_INSERT, params)
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
            if constraint == PRIMARY_KEY:
                raise ConcurrencyConflict(order_id, expected_version) from None
            raise
        return expected_version + len(params)

    def stream_ids(self, after: int = 0, limit: int = 1000) -> list[int]:
        rows = self.connection.execute(
            text("SELECT DISTINCT order_id FROM order_events WHERE order_id > :after "
                 "ORDER BY order_id LIMIT :limit"),
            {"after": after, "limit": limit},
        )  # fmt: skip
        return [r.order_id for r in rows]


# --- the inline projection ---------------------------------------------------------------

_UPSERT_SUMMARY = """
INSERT INTO {table} AS s (order_id, user_id, email, status, legacy_status, currency,
    total_minor, shipping, lines, payments, created_at, updated_at, version)
VALUES (:order_id, :user_id, :email, :status, :legacy_status, :currency, :total_minor,
    CAST(:shipping AS jsonb), CAST(:lines AS jsonb), CAST(:payments AS jsonb),
    :created_at, :updated_at, :version)
ON CONFLICT (order_id) DO UPDATE SET user_id = EXCLUDED.user_id, email = EXCLUDED.email,
    status = EXCLUDED.status, legacy_status = EXCLUDED.legacy_status,
    currency = EXCLUDED.currency, total_minor = EXCLUDED.total_minor,
    shipping = EXCLUDED.shipping, lines = EXCLUDED.lines, payments = EXCLUDED.payments,
    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
    version = EXCLUDED.version
WHERE s.version < EXCLUDED.version
"""


def summary_row(order: Order) -> dict[str, Any]:
    data = snapshot_to_data(order.snapshot())
    return {
        "order_id": order.order_id, "user_id": order.user_id, "email": order.email,
        "status": str(order.status), "legacy_status": status_to_legacy(order.status),
        "currency": order.currency, "total_minor": order.total_minor,
        "shipping": _json(data["shipping"]), "lines": _json(data["lines"]),
        "payments": _json(data["payments"]),
        "created_at": order.created_at, "updated_at": order.updated_at,
        "version": order.version,
    }  # fmt: skip


def project(connection: Connection, order: Order, table: str = "order_summaries") -> None:
    """Write the order's summary row (visible orders only)."""
    if not order.visible:
        return
    connection.execute(text(_UPSERT_SUMMARY.format(table=table)), summary_row(order))


# --- the repository the service layer uses -----------------------------------------------


class OrderRepository:
    """Orders on a connection: load (fold), save new events (append + project + outbox)."""

    def __init__(self, connection: Connection,
                 on_recorded: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.connection = connection
        self.store = EventStore(connection)
        self._on_recorded = on_recorded

    def get(self, order_id: int) -> Order | None:
        return fold(self.store.load(order_id))

    def save(
        self, order: Order | None, events: Sequence[Event],
        metadata: Mapping[str, Any] | None = None, *, sync: bool = True,
    ) -> Order:  # fmt: skip
        """Append ``events`` to the stream ``order`` was read from (None: a new stream).

        Raises ``InvalidTransition`` before writing anything if an event breaks a rule,
        ``ConcurrencyConflict`` if the stream moved on. ``sync=False`` records no outbox
        event (the backfill: the monolith already has the order).
        """
        states: list[Order] = []
        state = order
        for event in events:
            state = apply(state, event)
            states.append(state)
        assert state is not None, "save() needs at least one event"
        self.store.append(state.order_id, 0 if order is None else order.version, events,
                          metadata)  # fmt: skip
        project(self.connection, state)
        cursor = self.connection.connection.cursor()  # the DBAPI cursor, this transaction
        for event, after in zip(events, states, strict=True):
            if sync and after.visible:
                record_event(
                    cursor, aggregate_type=ORDER_AGGREGATE, aggregate_id=str(after.order_id),
                    event_type=ORDER_CHANGED_EVENT,
                    payload=order_to_sync_payload(after.snapshot(), change=event_type(event)),
                )  # fmt: skip
            if self._on_recorded is not None:
                self._on_recorded(event_type(event))
        return state

    def next_order_id(self) -> int:
        return int(self.connection.execute(text("SELECT nextval('order_legacy_id_seq')"))
                   .scalar_one())  # fmt: skip

    def next_payment_id(self) -> int:
        return int(self.connection.execute(text("SELECT nextval('payment_legacy_id_seq')"))
                   .scalar_one())  # fmt: skip
