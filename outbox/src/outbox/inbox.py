"""The consumer side: exactly-once effects over at-least-once delivery, and parking.

Building blocks, each a statement in the consumer's own transaction (any DB-API cursor):

- ``lock_aggregate``: a transaction-scoped advisory lock per (consumer, aggregate), so two
  workers never interleave one aggregate's events, parking included;
- ``claim``: record the event id in the inbox; False means it was already applied (a
  duplicate from a redelivery or a relay crash) and the caller does nothing;
- ``applied_version`` / ``advance_version``: the per-aggregate version check, for
  consumers whose own rows carry no version;
- ``is_parked`` / ``park``: poison isolation per aggregate.

``Consumer`` puts them together in the right order and ``make_consumer_task`` wraps a
``Consumer`` in a Celery task with the settings that stop message loss.

Each event a ``Consumer`` handles gets a CONSUMER span, child of the ``traceparent`` in the
envelope's headers (the writer's span), so it joins the trace of the request that caused
it; and counts once in ``outbox_consumed_events_total{consumer, outcome}`` of
``METRICS_REGISTRY``, which the worker serves.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

import orjson
from celery import Celery, Task
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import Counter
from shop_telemetry import context_from_traceparent

from outbox.envelope import Envelope, validate
from outbox.schema import Tables
from outbox.writer import METRICS_REGISTRY as METRICS_REGISTRY  # served by workers
from outbox.writer import Cursor

log = logging.getLogger("outbox.inbox")
_tracer = trace.get_tracer("outbox.inbox")

CONSUMED = Counter(
    "outbox_consumed_events",
    "Events a consumer handled: applied, duplicate, stale, parked, parked-behind",
    ["consumer", "outcome"],
    registry=METRICS_REGISTRY,
)

Handler = Callable[[Any, Envelope], None]
Ordering = Literal["latest", "strict"]


class Connection(Protocol):
    """The part of a DB-API connection ``Consumer`` uses (not in autocommit mode)."""

    def cursor(self) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


def _key(consumer: str, aggregate_type: str, aggregate_id: str) -> int:
    raw = f"{consumer}\x1f{aggregate_type}\x1f{aggregate_id}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big", signed=True)


def lock_aggregate(cursor: Cursor, consumer: str, aggregate_type: str, aggregate_id: str) -> None:
    """Serialise this consumer's work on one aggregate until the transaction ends."""
    cursor.execute(
        "SELECT pg_advisory_xact_lock(%s)", (_key(consumer, aggregate_type, aggregate_id),)
    )
    cursor.fetchone()


def claim(
    cursor: Cursor,
    consumer: str,
    event_id: str,
    *,
    envelope: Envelope | None = None,
    table_prefix: str = "",
) -> bool:
    """Record ``event_id`` as applied by ``consumer``; False if it already was (a duplicate).

    Commit it in the same transaction as the event's effects: then either both happen or
    neither, and a redelivered event is a no-op.
    """
    t = Tables(table_prefix)
    env: dict[str, Any] = dict(envelope or {})
    cursor.execute(
        f"""INSERT INTO {t.inbox}
                (consumer, event_id, aggregate_type, aggregate_id, version, created_at)
            VALUES (%s, %s::uuid, %s, %s, %s, %s::timestamptz)
            ON CONFLICT (consumer, event_id) DO NOTHING RETURNING 1""",
        (
            consumer,
            str(event_id),
            env.get("aggregate_type"),
            env.get("aggregate_id"),
            env.get("version"),
            env.get("created_at"),
        ),
    )
    return cursor.fetchone() is not None


def applied_version(
    cursor: Cursor, consumer: str, aggregate_type: str, aggregate_id: str, *, table_prefix: str = ""
) -> int:
    """The last version of the aggregate this consumer applied (0: none yet)."""
    t = Tables(table_prefix)
    cursor.execute(
        f"""SELECT version FROM {t.applied_version}
            WHERE consumer = %s AND aggregate_type = %s AND aggregate_id = %s""",
        (consumer, aggregate_type, aggregate_id),
    )
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def advance_version(
    cursor: Cursor,
    consumer: str,
    aggregate_type: str,
    aggregate_id: str,
    version: int,
    *,
    table_prefix: str = "",
) -> bool:
    """Store ``version`` as applied if it is newer; False if a newer one was already stored.

    Also what a backfill calls to seed the version it copied, so that older events still
    in flight are skipped afterwards.
    """
    t = Tables(table_prefix)
    cursor.execute(
        f"""INSERT INTO {t.applied_version} AS a (consumer, aggregate_type, aggregate_id, version)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE
                SET version = excluded.version, updated_at = clock_timestamp()
                WHERE a.version < excluded.version
            RETURNING 1""",
        (consumer, aggregate_type, aggregate_id, version),
    )
    return cursor.fetchone() is not None


def is_parked(
    cursor: Cursor, consumer: str, aggregate_type: str, aggregate_id: str, *, table_prefix: str = ""
) -> bool:
    """Whether the aggregate has parked events for this consumer (later ones must wait)."""
    t = Tables(table_prefix)
    cursor.execute(
        f"""SELECT EXISTS (SELECT 1 FROM {t.parked}
            WHERE consumer = %s AND aggregate_type = %s AND aggregate_id = %s)""",
        (consumer, aggregate_type, aggregate_id),
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def park(
    cursor: Cursor,
    consumer: str,
    envelope: Envelope,
    error: str,
    *,
    attempts: int = 0,
    table_prefix: str = "",
) -> bool:
    """Park one event (the poison one, or one waiting behind it); False if already parked."""
    t = Tables(table_prefix)
    cursor.execute(
        f"""INSERT INTO {t.parked} (consumer, event_id, aggregate_type, aggregate_id, version,
                                    event_type, envelope, error, attempts)
            VALUES (%s, %s::uuid, %s, %s, %s, %s, %s::jsonb, %s, %s)
            ON CONFLICT (consumer, event_id) DO NOTHING RETURNING 1""",
        (
            consumer,
            envelope["event_id"],
            envelope["aggregate_type"],
            envelope["aggregate_id"],
            envelope["version"],
            envelope["event_type"],
            orjson.dumps(envelope).decode(),
            error[:4000],
            attempts,
        ),
    )
    return cursor.fetchone() is not None


@dataclass(frozen=True)
class ParkedAggregate:
    consumer: str
    aggregate_type: str
    aggregate_id: str
    events: int
    first_version: int
    first_event_id: str
    error: str
    attempts: int
    parked_at: Any


def parked_aggregates(
    cursor: Cursor, consumer: str | None = None, *, table_prefix: str = ""
) -> list[ParkedAggregate]:
    """Every parked aggregate with its first (poison) event, oldest first."""
    t = Tables(table_prefix)
    cursor.execute(
        f"""SELECT DISTINCT ON (consumer, aggregate_type, aggregate_id)
                   consumer, aggregate_type, aggregate_id,
                   count(*) OVER (PARTITION BY consumer, aggregate_type, aggregate_id),
                   version, event_id::text, error, attempts, parked_at
            FROM {t.parked}
            WHERE %s::text IS NULL OR consumer = %s
            ORDER BY consumer, aggregate_type, aggregate_id, version""",
        (consumer, consumer),
    )
    rows: list[Any] = cursor.fetchall()  # type: ignore[attr-defined]
    result = [
        ParkedAggregate(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5], r[6], int(r[7]), r[8])
        for r in rows
    ]
    return sorted(result, key=lambda p: p.parked_at)


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    PARKED = "parked"
    PARKED_BEHIND = "parked-behind"


class VersionGap(Exception):
    """Strict ordering: an earlier version of the aggregate has not been applied yet."""


@dataclass(frozen=True)
class ReleaseResult:
    applied: int
    skipped: int
    remaining: int
    error: str | None


class Consumer:
    """One consumer (one inbox name, one queue or lane set), applying envelopes.

    ``handler(cursor, envelope)`` makes the event's effects with ``cursor``, in the same
    transaction as the inbox row and the version bump; it must not commit.

    ``ordering``:
      - ``"latest"`` (state-carrying events): an event older than the applied version is
        skipped; a newer one is applied even after a gap (the skipped-over versions are
        then stale). Effects never go backwards, whatever the delivery order.
      - ``"strict"`` (delta events): an event must be exactly the next version; a gap is
        retried with backoff and, after ``max_attempts``, parks the aggregate.

    A failing event is retried in the worker ``max_attempts`` times with exponential
    backoff (the lane waits: retrying through the broker would let the aggregate's next
    event overtake it), then its aggregate is parked: this and every later event of that
    aggregate go to the parked table, every other aggregate flows on. Redeliveries after
    a worker crash count as attempts too, so an event that kills its worker is parked.
    """

    def __init__(
        self,
        name: str,
        handler: Handler,
        *,
        dsn: str | None = None,
        connect: Callable[[], Connection] | None = None,
        ordering: Ordering = "latest",
        max_attempts: int = 5,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        table_prefix: str = "",
    ) -> None:
        if (dsn is None) == (connect is None):
            raise ValueError("give exactly one of dsn or connect")
        self.name = name
        self.handler = handler
        self.ordering = ordering
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.table_prefix = table_prefix
        self.tables = Tables(table_prefix)
        self._dsn = dsn
        self._connect = connect
        self._conn: Connection | None = None
        self._pid = 0

    # -- connection (one per process, opened lazily: safe with prefork) ------------

    def connection(self) -> Connection:
        if self._conn is None or self._pid != os.getpid() or getattr(self._conn, "closed", False):
            self._conn = self._open()
            self._pid = os.getpid()
        return self._conn

    def _open(self) -> Connection:
        if self._connect is not None:
            return self._connect()
        import psycopg

        return psycopg.connect(self._dsn or "")

    def _reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- processing ------------------------------------------------------------------

    # -- telemetry -------------------------------------------------------------------

    def _start_span(self, envelope: Envelope) -> Span:
        headers = envelope.get("headers") or {}
        return _tracer.start_span(
            "outbox consume",
            context=context_from_traceparent(headers.get("traceparent")),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.message.id": str(envelope["event_id"]),
                "outbox.consumer": self.name,
                "outbox.event_type": str(envelope["event_type"]),
                "outbox.aggregate": f"{envelope['aggregate_type']}:{envelope['aggregate_id']}",
                "outbox.version": envelope["version"],
            },
        )

    def _finish(
        self, span: Span, outcome: Outcome | None, error: BaseException | None = None
    ) -> None:
        if outcome is not None:
            span.set_attribute("outbox.outcome", outcome.value)
            CONSUMED.labels(self.name, outcome.value).inc()
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    def _log_applied(self, envelope: Envelope) -> None:
        log.info("%s: applied %s %s:%s v%s", self.name, envelope["event_type"],
                 envelope["aggregate_type"], envelope["aggregate_id"], envelope["version"],
                 extra={"event_id": str(envelope["event_id"])})  # fmt: skip

    def process(self, envelope: Envelope, *, redelivered: bool = False) -> Outcome:
        """Apply one envelope (the Celery task body); returns what happened."""
        envelope = validate(envelope)
        span = self._start_span(envelope)
        try:
            with trace.use_span(span, end_on_exit=False):
                outcome = self._process(envelope, redelivered)
                if outcome is Outcome.APPLIED:
                    self._log_applied(envelope)
        except BaseException as exc:
            self._finish(span, None, exc)
            raise
        self._finish(span, outcome)
        return outcome

    def _process(self, envelope: Envelope, redelivered: bool) -> Outcome:
        attempt = 1
        if redelivered:
            attempt = self._count_delivery(envelope, None) + 1
            if attempt > self.max_attempts:
                return self._park(
                    envelope, "gave up after repeated deliveries (worker lost?)", attempt - 1
                )
        while True:
            try:
                return self._apply(envelope, track=attempt > 1)
            except Exception as exc:
                self._rollback()
                if self._database_lost(exc):
                    # The database is away, not the event at fault: the lane waits for it
                    # (attempts are not spent, nothing is parked, the message stays unacked).
                    self._reset()
                    self._wait_for_database(exc)
                    continue
                error = f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, VersionGap):
                    log.warning(
                        "%s: %s %s v%s failed (attempt %d/%d): %s",
                        self.name,
                        envelope["aggregate_type"],
                        envelope["aggregate_id"],
                        envelope["version"],
                        attempt,
                        self.max_attempts,
                        error,
                    )
                self._count_delivery(envelope, error)
                if attempt >= self.max_attempts:
                    return self._park(envelope, error, attempt)
                time.sleep(min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))
                attempt += 1

    def process_batch(
        self, envelopes: Sequence[Any], redelivered: Sequence[bool] | None = None
    ) -> list[Outcome | None]:
        """Apply several envelopes of one lane, in arrival order, in ONE transaction.

        Returns an outcome per envelope (``None`` for one that is not an envelope). With
        ``"latest"`` ordering the batch is set-based: one statement locks the aggregates,
        one claims every event id and advances every version, and the handler runs once
        per aggregate, for its newest claimed event; the older ones of that aggregate in
        the batch are STALE, where one by one they would have been applied and then
        superseded: the end state is the same. Any failure rolls the whole
        batch back and replays it through :meth:`process`, one event at a time, which
        retries, parks poison and waits out database outages as usual: a batch never
        changes what happens, only how many round trips it takes.
        """
        flags = list(redelivered or [False] * len(envelopes))
        results: list[Outcome | None] = [None] * len(envelopes)
        valid: list[tuple[int, Envelope]] = []
        for i, raw in enumerate(envelopes):
            try:
                valid.append((i, validate(raw)))
            except ValueError as exc:
                log.error("%s: dropped a malformed envelope: %s", self.name, exc)
        if not valid:
            return results
        if self.ordering == "latest" and not any(flags[i] for i, _ in valid):
            try:
                for (i, _), outcome in zip(valid, self._apply_batch([e for _, e in valid]),
                                           strict=True):  # fmt: skip
                    results[i] = outcome
                return results
            except Exception as exc:
                self._rollback()
                if _is_connection_error(exc):
                    self._reset()
                log.info("%s: batch of %d replayed one by one after %s: %s",
                         self.name, len(valid), type(exc).__name__, exc)  # fmt: skip
        for i, envelope in valid:
            results[i] = self.process(envelope, redelivered=flags[i])
        return results

    def _apply_batch(self, envelopes: list[Envelope]) -> list[Outcome]:
        conn = self.connection()
        cur = conn.cursor()
        t = self.tables
        # Later copies of an event id within the batch are duplicates of the first.
        first: dict[str, int] = {}
        for i, e in enumerate(envelopes):
            first.setdefault(str(e["event_id"]), i)
        keys = sorted({_key(self.name, e["aggregate_type"], e["aggregate_id"]) for e in envelopes})
        # Sorted, so two workers locking overlapping sets never deadlock.
        cur.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM "
            "(SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k) AS s",
            (keys,),
        )
        cur.fetchone()
        unique = [envelopes[i] for i in sorted(first.values())]
        cur.execute(
            f"""WITH e AS (
                    SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::bigint[],
                                         %s::timestamptz[])
                        AS e(event_id, aggregate_type, aggregate_id, version, created_at)
                ), p AS (
                    SELECT DISTINCT aggregate_type, aggregate_id FROM {t.parked}
                    WHERE consumer = %s AND (aggregate_type, aggregate_id) IN
                        (SELECT aggregate_type, aggregate_id FROM e)
                ), c AS (
                    INSERT INTO {t.inbox}
                        (consumer, event_id, aggregate_type, aggregate_id, version, created_at)
                    SELECT %s, e.event_id, e.aggregate_type, e.aggregate_id, e.version,
                           e.created_at
                    FROM e WHERE (e.aggregate_type, e.aggregate_id) NOT IN (SELECT * FROM p)
                    ON CONFLICT (consumer, event_id) DO NOTHING
                    RETURNING event_id, aggregate_type, aggregate_id, version
                ), v AS (
                    SELECT a.aggregate_type, a.aggregate_id, a.version FROM {t.applied_version} a
                    WHERE a.consumer = %s AND (a.aggregate_type, a.aggregate_id) IN
                        (SELECT aggregate_type, aggregate_id FROM e)
                ), adv AS (
                    INSERT INTO {t.applied_version} AS a
                        (consumer, aggregate_type, aggregate_id, version)
                    SELECT %s, aggregate_type, aggregate_id, max(version) FROM c
                    GROUP BY aggregate_type, aggregate_id
                    ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE
                        SET version = excluded.version, updated_at = clock_timestamp()
                        WHERE a.version < excluded.version
                    RETURNING 1
                )
                SELECT 'p', aggregate_type, aggregate_id, NULL::bigint, NULL::text FROM p
                UNION ALL SELECT 'c', aggregate_type, aggregate_id, version, event_id::text FROM c
                UNION ALL SELECT 'v', aggregate_type, aggregate_id, version, NULL FROM v""",
            (
                [e["event_id"] for e in unique], [e["aggregate_type"] for e in unique],
                [e["aggregate_id"] for e in unique], [e["version"] for e in unique],
                [e["created_at"] for e in unique],
                self.name, self.name, self.name, self.name,
            ),
        )  # fmt: skip
        parked: set[tuple[str, str]] = set()
        claimed: set[str] = set()
        applied: dict[tuple[str, str], int] = {}
        newest: dict[tuple[str, str], int] = {}  # the newest claimed version per aggregate
        for kind, agg_type, agg_id, version, event_id in cur.fetchall():
            agg = (agg_type, agg_id)
            if kind == "p":
                parked.add(agg)
            elif kind == "v":
                applied[agg] = int(version)
            else:
                claimed.add(event_id)
                newest[agg] = max(newest.get(agg, 0), int(version))
        outcomes: list[Outcome] = []
        # One span per event, each a child of its own traceparent; ended only once the
        # batch's fate is known (a rolled-back batch is replayed one by one, new spans).
        spans: list[Span] = []
        try:
            for i, envelope in enumerate(envelopes):
                agg = (envelope["aggregate_type"], envelope["aggregate_id"])
                version = envelope["version"]
                span = self._start_span(envelope)
                spans.append(span)
                if agg in parked:
                    park(cur, self.name, envelope, "waiting behind an earlier parked event",
                         table_prefix=self.table_prefix)  # fmt: skip
                    outcomes.append(Outcome.PARKED_BEHIND)
                elif (first[str(envelope["event_id"])] != i
                      or str(envelope["event_id"]) not in claimed):  # fmt: skip
                    outcomes.append(Outcome.DUPLICATE)
                elif version <= applied.get(agg, 0) or version < newest[agg]:
                    outcomes.append(Outcome.STALE)
                else:
                    with trace.use_span(span, end_on_exit=False):
                        self.handler(cur, envelope)
                        self._log_applied(envelope)
                    outcomes.append(Outcome.APPLIED)
            conn.commit()
        except BaseException as exc:
            for span in spans:
                self._finish(span, None, exc)
            raise
        for span, outcome in zip(spans, outcomes, strict=True):
            self._finish(span, outcome)
        return outcomes

    def _database_lost(self, exc: BaseException) -> bool:
        """A driver-level error that left no usable connection (not a failing statement)."""
        if not _is_connection_error(exc):
            return False
        conn = self._conn
        if conn is None:
            return True
        return bool(getattr(conn, "closed", False) or getattr(conn, "broken", False))

    def _wait_for_database(self, exc: BaseException) -> None:
        """Back off until a connection opens again (the caller then retries its event)."""
        delay = self.backoff_base
        while True:
            log.warning("%s: database unavailable (%s); the lane waits %.1fs",
                        self.name, exc, delay)  # fmt: skip
            time.sleep(delay)  # the outage's pace, not a test's: nothing else can proceed
            try:
                self.connection()
                return
            except Exception as again:
                if not _is_connection_error(again):
                    raise
                self._reset()
                exc = again
                delay = min(self.backoff_max, delay * 2)

    def _rollback(self) -> None:
        if self._conn is not None:
            try:
                self._conn.rollback()
            except Exception:
                self._reset()

    def _apply(self, envelope: Envelope, *, track: bool, releasing: bool = False) -> Outcome:
        conn = self.connection()
        cur = conn.cursor()
        agg_type, agg_id = envelope["aggregate_type"], envelope["aggregate_id"]
        lock_aggregate(cur, self.name, agg_type, agg_id)
        t = self.tables
        # One round trip: parked?, claim (unless parked), the applied version, and the
        # version bump when the event is to be applied (rolled back with the transaction
        # if the handler fails).
        version = envelope["version"]
        cur.execute(
            f"""WITH p AS (
                    SELECT %s AND EXISTS (SELECT 1 FROM {t.parked}
                        WHERE consumer = %s AND aggregate_type = %s AND aggregate_id = %s) AS parked
                ), c AS (
                    INSERT INTO {t.inbox}
                        (consumer, event_id, aggregate_type, aggregate_id, version, created_at)
                    SELECT %s, %s::uuid, %s, %s, %s, %s::timestamptz FROM p WHERE NOT p.parked
                    ON CONFLICT (consumer, event_id) DO NOTHING RETURNING 1
                ), v AS (
                    SELECT coalesce((SELECT version FROM {t.applied_version}
                        WHERE consumer = %s AND aggregate_type = %s AND aggregate_id = %s), 0)
                        AS applied
                ), adv AS (
                    INSERT INTO {t.applied_version} AS a
                        (consumer, aggregate_type, aggregate_id, version)
                    SELECT %s, %s, %s, %s::bigint FROM v
                    WHERE EXISTS (SELECT 1 FROM c) AND %s::bigint > v.applied
                      AND (NOT %s OR %s::bigint = v.applied + 1)
                    ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE
                        SET version = excluded.version, updated_at = clock_timestamp()
                    RETURNING 1
                )
                SELECT p.parked, EXISTS (SELECT 1 FROM c), v.applied FROM p, v""",
            (
                not releasing, self.name, agg_type, agg_id,
                self.name, envelope["event_id"], agg_type, agg_id, version, envelope["created_at"],
                self.name, agg_type, agg_id,
                self.name, agg_type, agg_id, version, version, self.ordering == "strict", version,
            ),
        )  # fmt: skip
        parked, claimed, applied = cur.fetchone()
        outcome: Outcome
        if parked:
            park(cur, self.name, envelope, "waiting behind an earlier parked event",
                 table_prefix=self.table_prefix)  # fmt: skip
            outcome = Outcome.PARKED_BEHIND
        elif not claimed:
            outcome = Outcome.DUPLICATE
        elif version <= applied:
            outcome = Outcome.STALE  # the inbox row stays: a redelivery is a plain duplicate
        elif self.ordering == "strict" and version != applied + 1:
            raise VersionGap(f"got version {version}, expected {applied + 1}")
        else:
            self.handler(cur, envelope)
            outcome = Outcome.APPLIED
        if track:
            cur.execute(
                f"DELETE FROM {t.deliveries} WHERE consumer = %s AND event_id = %s::uuid",
                (self.name, envelope["event_id"]),
            )
        conn.commit()
        return outcome

    def _count_delivery(self, envelope: Envelope, error: str | None) -> int:
        """+1 on the event's delivery counter, committed at once (survives a crash)."""
        t = self.tables
        try:
            conn = self.connection()
            cur = conn.cursor()
            cur.execute(
                f"""INSERT INTO {t.deliveries} AS d (consumer, event_id, deliveries, last_error)
                    VALUES (%s, %s::uuid, 1, %s)
                    ON CONFLICT (consumer, event_id) DO UPDATE
                        SET deliveries = d.deliveries + 1,
                            last_error = coalesce(excluded.last_error, d.last_error)
                    RETURNING deliveries""",
                (self.name, envelope["event_id"], error),
            )
            row = cur.fetchone()
            conn.commit()
            return int(row[0])
        except Exception:
            self._rollback()
            raise

    def _park(self, envelope: Envelope, error: str, attempts: int) -> Outcome:
        conn = self.connection()
        cur = conn.cursor()
        lock_aggregate(cur, self.name, envelope["aggregate_type"], envelope["aggregate_id"])
        park(cur, self.name, envelope, error, attempts=attempts, table_prefix=self.table_prefix)
        cur.execute(
            f"DELETE FROM {self.tables.deliveries} WHERE consumer = %s AND event_id = %s::uuid",
            (self.name, envelope["event_id"]),
        )
        conn.commit()
        log.error(
            "%s: parked %s %s at v%s after %d attempts: %s",
            self.name,
            envelope["aggregate_type"],
            envelope["aggregate_id"],
            envelope["version"],
            attempts,
            error,
        )
        return Outcome.PARKED

    # -- release ---------------------------------------------------------------------

    def release(self, aggregate_type: str, aggregate_id: str) -> ReleaseResult:
        """Re-drive a parked aggregate's events in version order, here and now.

        Run it after fixing the cause. Each event is taken off the parked table and applied
        in one transaction under the aggregate's lock, so a crash leaves it parked and an
        event arriving meanwhile waits for the lock, then parks behind the rest (and is
        drained by this same loop). If an event fails again it stays parked with the new
        error and the release stops there: nothing is skipped.
        """
        applied = skipped = 0
        t = self.tables
        while True:
            conn = self.connection()
            cur = conn.cursor()
            lock_aggregate(cur, self.name, aggregate_type, aggregate_id)
            cur.execute(
                f"""DELETE FROM {t.parked} WHERE (consumer, event_id) = (
                        SELECT consumer, event_id FROM {t.parked}
                        WHERE consumer = %s AND aggregate_type = %s AND aggregate_id = %s
                        ORDER BY version, parked_at LIMIT 1)
                    RETURNING envelope""",
                (self.name, aggregate_type, aggregate_id),
            )
            row = cur.fetchone()
            if row is None:
                conn.commit()
                return ReleaseResult(applied, skipped, 0, None)
            raw = row[0]
            envelope: Envelope = orjson.loads(raw) if isinstance(raw, (str, bytes)) else raw
            try:
                outcome = self._apply(envelope, track=False, releasing=True)  # commits
            except Exception as exc:
                self._rollback()  # the event is back in the parked table
                error = f"{type(exc).__name__}: {exc}"
                conn = self.connection()
                cur = conn.cursor()
                cur.execute(
                    f"""UPDATE {t.parked} SET error = %s, attempts = attempts + 1
                        WHERE consumer = %s AND event_id = %s::uuid""",
                    (error[:4000], self.name, envelope["event_id"]),
                )
                cur.execute(
                    f"""SELECT count(*) FROM {t.parked}
                        WHERE consumer = %s AND aggregate_type = %s AND aggregate_id = %s""",
                    (self.name, aggregate_type, aggregate_id),
                )
                remaining = int(cur.fetchone()[0])
                conn.commit()
                return ReleaseResult(applied, skipped, remaining, error)
            if outcome is Outcome.APPLIED:
                applied += 1
            else:
                skipped += 1


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    kinds = (psycopg.OperationalError, psycopg.InterfaceError)
    # Wrappers (SQLAlchemy's DBAPIError) keep the driver's error in .orig.
    return isinstance(exc, kinds) or isinstance(getattr(exc, "orig", None), kinds)


def configure_celery(
    app: Celery,
    *,
    visibility_timeout: float | None = None,
    batch_size: int = 1,
    **overrides: Any,
) -> Celery:
    """The settings under which no acknowledged event is ever lost.

    - ``task_acks_late``: acknowledge after the task returns, not before it runs;
    - ``task_reject_on_worker_lost``: a child killed mid-task is redelivered, not acked;
    - ``worker_prefetch_multiplier=batch_size`` (1 unless the consumer task batches): a
      worker holds at most one batch of unacknowledged messages;
    - Redis ``visibility_timeout`` (default here 1 h): how long an unacknowledged message
      of a dead worker waits before redelivery; it must exceed the longest task including
      its in-worker retries;
    - Redis sweeps for such messages every third of the visibility timeout (kombu's
      default sweep runs only every ~100 s, which would hold a redelivery back long
      after the timeout expired);
    - RabbitMQ publisher confirms for anything the consumer itself sends;
    - ``redis://`` brokers use ``outbox.redis_transport`` (kombu's, with a reused client,
      bulk fetch up to the prefetch window and one round trip per batch of acks) unless
      ``broker_transport`` is set already or given here.
    """
    transport: dict[str, Any] = dict(app.conf.broker_transport_options or {})
    broker = str(app.conf.broker_url or "")
    if broker.startswith(("amqp", "pyamqp")):
        transport.setdefault("confirm_publish", True)
    elif visibility_timeout is not None:
        transport["visibility_timeout"] = visibility_timeout
        transport.setdefault("unacked_restore_interval", max(1, int(visibility_timeout // 3)))
        transport.setdefault("unacked_restore_throttle", 1)
    if broker.startswith("redis://") and not app.conf.broker_transport:
        # Same messages and guarantees, a fraction of the round trips (outbox.redis_transport).
        # Not rediss://: kombu derives its TLS defaults from that scheme's transport name.
        overrides.setdefault("broker_transport", "outbox.redis_transport:Transport")
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=max(1, batch_size),
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_transport_options=transport,
        **overrides,
    )
    return app


def make_consumer_task(
    app: Celery,
    name: str,
    consumer: Consumer,
    *,
    queue: str | None = None,
    batch_size: int = 1,
    flush_interval: float = 0.01,
) -> Task[Any, Any]:
    """Register ``consumer`` as the Celery task ``name`` (what the relay routes to).

    The task takes the envelope as its only argument and returns the outcome's value.
    Call ``configure_celery(app, batch_size=...)`` too: the per-task flags below are only
    half of it. ``batch_size > 1`` makes a worker apply the messages it has received in
    batches of up to that many, one transaction each (see ``outbox.batching``); the
    messages, their ids and the guarantees stay the same.
    """
    options: dict[str, Any] = {}
    if batch_size > 1:
        from outbox.batching import BatchTask

        options = {
            "base": BatchTask,
            "batch_size": batch_size,
            "flush_interval": flush_interval,
            "run_batch": staticmethod(consumer.process_batch),
        }

    @app.task(  # type: ignore[untyped-decorator]
        name=name,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        queue=queue,
        ignore_result=True,
        **options,
    )
    def consume(self: Task[Any, Any], envelope: Envelope) -> str:
        info = self.request.delivery_info or {}
        redelivered = bool(info.get("redelivered")) or bool(self.request.retries)
        return consumer.process(envelope, redelivered=redelivered).value

    consume.consumer = consumer  # for `python -m outbox parked release --consumer mod:task`
    return consume
