"""Writing events in the caller's transaction, through any DB-API cursor.

``record_event`` is one SQL statement: it bumps the aggregate's version counter
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, which also row-locks the counter
until commit and so serialises the writers of one aggregate) and inserts the outbox row
with that version. Versions are therefore gapless and strictly increasing per aggregate,
and an aggregate's versions commit in version order.

Origin markers stop echo loops in two-way sync: a consumer that applies events from
another system marks its transaction (``mark_transaction_origin``); a writer configured
to suppress that origin then records nothing, so the change does not travel back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from prometheus_client import CollectorRegistry, Counter

from outbox.schema import Tables

ORIGIN_SETTING = "outbox.origin"
CONTENT_TYPE = "application/json"

# Shared with the consumer side (``outbox.inbox``): a sync worker serves one registry, and
# the echoes its writes suppressed are the proof that its origin mark works.
METRICS_REGISTRY = CollectorRegistry()
ECHOES_SUPPRESSED = Counter(
    "outbox_echoes_suppressed",
    "Events not recorded because the transaction's origin is suppressed (would echo back)",
    registry=METRICS_REGISTRY,
)


class Cursor(Protocol):
    """The part of a DB-API cursor the library uses (Django's, psycopg's, SQLAlchemy's raw)."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def fetchone(self) -> Any: ...


@dataclass(frozen=True)
class WriterConfig:
    """Process-wide defaults for ``record_event`` (see ``configure``)."""

    table_prefix: str = ""
    suppress_origins: frozenset[str] = frozenset()
    default_origin: str | None = None


_config = WriterConfig()


def configure(
    *,
    table_prefix: str = "",
    suppress_origins: Iterable[str] = (),
    default_origin: str | None = None,
) -> WriterConfig:
    """Set the defaults once at start-up (e.g. in ``AppConfig.ready``); returns the old ones.

    ``suppress_origins``: events recorded in a transaction marked with one of these origins
    are not recorded at all (the change came from that system: do not echo it back).
    ``default_origin``: the origin stamped on events written outside any marked
    transaction, e.g. ``"monolith"``.
    """
    global _config
    old = _config
    Tables(table_prefix)  # validates
    _config = WriterConfig(table_prefix, frozenset(suppress_origins), default_origin)
    return old


@dataclass(frozen=True)
class RecordedEvent:
    event_id: uuid.UUID
    aggregate_type: str
    aggregate_id: str
    version: int
    event_type: str
    origin: str | None
    created_at: datetime


@dataclass(frozen=True)
class NewEvent:
    """One event for ``record_events`` (the bulk path)."""

    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: Mapping[str, Any]
    headers: Mapping[str, Any] | None = None
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


def mark_transaction_origin(cursor: Cursor, origin: str) -> None:
    """Mark the current transaction as applied on behalf of ``origin`` (``SET LOCAL``).

    Every event recorded later in this transaction carries ``headers.origin = origin``,
    and is skipped by writers that suppress ``origin``. The mark ends with the transaction.
    """
    cursor.execute("SELECT set_config(%s, %s, true)", (ORIGIN_SETTING, origin))
    cursor.fetchone()


def _headers(headers: Mapping[str, Any] | None) -> bytes:
    merged: dict[str, Any] = {"content_type": CONTENT_TYPE, "schema_version": 1}
    if headers:
        merged.update(headers)
    return orjson.dumps(merged)


def _dumps(payload: Mapping[str, Any]) -> str:
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode()


# The origin: explicit argument, else the transaction's mark, else the configured default.
# The counter is bumped only when the origin is not suppressed (a data-modifying CTE
# always runs, so the condition sits inside it).
_RECORD_SQL = """
WITH o AS (
    SELECT coalesce(%s::text, nullif(current_setting('{setting}', true), ''), %s::text) AS origin
), v AS (
    INSERT INTO {versions} AS c (aggregate_type, aggregate_id, version)
    SELECT %s, %s, 1 FROM o WHERE o.origin IS NULL OR o.origin <> ALL (%s::text[])
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = c.version + 1
    RETURNING c.version
)
INSERT INTO {outbox} (event_id, aggregate_type, aggregate_id, version, event_type, payload, headers)
SELECT %s::uuid, %s, %s, v.version, %s, %s::jsonb,
       %s::jsonb || CASE WHEN o.origin IS NULL THEN '{{}}'::jsonb
                         ELSE jsonb_build_object('origin', o.origin) END
FROM v, o
RETURNING version, created_at, headers->>'origin'
"""


def record_event(
    cursor: Cursor,
    *,
    aggregate_type: str,
    aggregate_id: str | int,
    event_type: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, Any] | None = None,
    origin: str | None = None,
    event_id: uuid.UUID | None = None,
    table_prefix: str | None = None,
    suppress_origins: Iterable[str] | None = None,
) -> RecordedEvent | None:
    """Record one event in the cursor's current transaction; None when suppressed.

    Must run inside the transaction that makes the change (Django: inside
    ``transaction.atomic``); the event becomes visible to the relay when it commits.
    ``headers`` may carry ``traceparent``, ``causation_id``, ``correlation_id``; the
    library adds ``content_type``, ``schema_version`` (overridable) and ``origin``.
    """
    cfg = _config
    tables = Tables(cfg.table_prefix if table_prefix is None else table_prefix)
    suppressed = sorted(cfg.suppress_origins if suppress_origins is None else suppress_origins)
    eid = event_id or uuid.uuid4()
    agg_id = str(aggregate_id)
    sql = _RECORD_SQL.format(
        setting=ORIGIN_SETTING, versions=tables.aggregate_version, outbox=tables.outbox
    )
    cursor.execute(
        sql,
        (
            origin,
            cfg.default_origin,
            aggregate_type,
            agg_id,
            suppressed,
            str(eid),
            aggregate_type,
            agg_id,
            event_type,
            _dumps(payload),
            _headers(headers).decode(),
        ),
    )
    row = cursor.fetchone()
    if row is None:
        ECHOES_SUPPRESSED.inc()
        return None
    version, created_at, recorded_origin = row
    return RecordedEvent(
        eid, aggregate_type, agg_id, int(version), event_type, recorded_origin, created_at
    )


# The bulk path: one statement for many events. Versions are assigned per aggregate in
# input order; counters are locked in (type, id) order so concurrent bulk writers do not
# deadlock on each other.
_RECORD_MANY_SQL = """
WITH o AS (
    SELECT coalesce(%s::text, nullif(current_setting('{setting}', true), ''), %s::text) AS origin
), ok AS (
    SELECT o.origin FROM o WHERE o.origin IS NULL OR o.origin <> ALL (%s::text[])
), input AS (
    SELECT t.*,
           row_number() OVER (PARTITION BY t.aggregate_type, t.aggregate_id ORDER BY t.ord) AS n
    FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
         WITH ORDINALITY
         AS t(event_id, aggregate_type, aggregate_id, event_type, payload, headers, ord)
    WHERE EXISTS (SELECT 1 FROM ok)
), counts AS (
    SELECT aggregate_type, aggregate_id, count(*) AS cnt FROM input GROUP BY 1, 2
), v AS (
    INSERT INTO {versions} AS c (aggregate_type, aggregate_id, version)
    SELECT aggregate_type, aggregate_id, cnt FROM counts ORDER BY aggregate_type, aggregate_id
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = c.version + excluded.version
    RETURNING c.aggregate_type, c.aggregate_id, c.version AS last_version
), ins AS (
INSERT INTO {outbox} (event_id, aggregate_type, aggregate_id, version, event_type, payload, headers)
SELECT i.event_id, i.aggregate_type, i.aggregate_id, v.last_version - k.cnt + i.n, i.event_type,
       i.payload::jsonb,
       i.headers::jsonb || CASE WHEN ok.origin IS NULL THEN '{{}}'::jsonb
                                ELSE jsonb_build_object('origin', ok.origin) END
FROM input i
JOIN counts k USING (aggregate_type, aggregate_id)
JOIN v USING (aggregate_type, aggregate_id)
CROSS JOIN ok
ORDER BY i.ord
RETURNING 1
)
SELECT count(*) FROM ins
"""


def record_events(
    cursor: Cursor,
    events: Sequence[NewEvent],
    *,
    origin: str | None = None,
    table_prefix: str | None = None,
    suppress_origins: Iterable[str] | None = None,
) -> int:
    """Record many events in one statement (bulk updates); returns how many were recorded.

    Same guarantees as ``record_event``: gapless versions per aggregate, assigned in the
    order the events are given; 0 when the transaction's origin is suppressed.
    """
    if not events:
        return 0
    cfg = _config
    tables = Tables(cfg.table_prefix if table_prefix is None else table_prefix)
    suppressed = sorted(cfg.suppress_origins if suppress_origins is None else suppress_origins)
    sql = _RECORD_MANY_SQL.format(
        setting=ORIGIN_SETTING, versions=tables.aggregate_version, outbox=tables.outbox
    )
    cursor.execute(
        sql,
        (
            origin,
            cfg.default_origin,
            suppressed,
            [str(e.event_id) for e in events],
            [e.aggregate_type for e in events],
            [str(e.aggregate_id) for e in events],
            [e.event_type for e in events],
            [_dumps(e.payload) for e in events],
            [_headers(e.headers).decode() for e in events],
        ),
    )
    row = cursor.fetchone()
    recorded = int(row[0]) if row else 0
    if not recorded:
        ECHOES_SUPPRESSED.inc(len(events))
    return recorded
