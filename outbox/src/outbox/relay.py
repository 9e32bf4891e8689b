"""The relay: outbox rows -> Celery tasks, in order, at least once.

One loop, one database connection holding the leadership lock:

1. **Leadership.** A session advisory lock per outbox table: one active relay, any number
   of hot standbys that take over within ``poll_interval`` when it dies (its session
   ends, the lock goes with it). One active reader is what keeps per-aggregate order
   simple and provable; one relay drains well over 5,000 events/s, so scale-out buys
   nothing the lanes downstream do not already give.
2. **Claim.** Rows whose writing transaction is below the snapshot horizon
   (``txid < pg_snapshot_xmin(pg_current_snapshot())``: every transaction that could
   still commit a row "before" them has finished), unpublished, not in backoff, in
   ``(txid, id)`` order, ``FOR UPDATE SKIP LOCKED``, ``batch_size`` at a time. A row
   committed late is never skipped: it is simply not claimable until the transactions
   older than it have finished, and the published flag (not a moving offset) means
   nothing behind the cursor can be missed.
3. **Per-aggregate gate.** Within an aggregate, txid order can differ from version order
   (a transaction that got its xid early may write the aggregate after a younger one
   committed). So each aggregate's events in the batch are sent in version order, and
   an event is held back while a lower version of its aggregate is still unpublished
   outside the batch (not yet claimable, or in backoff).
4. **Publish, then mark, in the claiming transaction.** ``send_task`` with the event id
   as task id, then ``published_at`` is set and the transaction commits. A crash between
   the two re-sends the batch (duplicates, absorbed by the inbox): never a loss.
5. **Failures.** A failed send increments ``attempts``, records ``last_error`` and backs
   the row off exponentially (capped); only its own aggregate waits, every other
   aggregate flows on. Several failures in a row mean the broker is down: the batch
   stops and the relay backs off as a whole.
6. **Wake-up.** ``LISTEN`` on the channel the insert trigger notifies, with a polling
   fallback (``poll_interval``, 1 s by default): latency is the commit, not a poll floor.
7. **Housekeeping.** Published rows older than ``retention`` are deleted in small
   batches; Prometheus gauges are refreshed every ``metrics_interval``.
8. **Tracing.** When spans are exported (``shop_telemetry.exporting()``), each event that
   carries a ``traceparent`` gets a PRODUCER span, child of that traceparent, around its
   send; the Celery message's ``traceparent`` header then names this span. The envelope
   keeps the writer's traceparent, which the consumers continue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
import psycopg
from celery import Celery
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from psycopg.types.json import set_json_loads
from shop_telemetry import context_from_traceparent, exporting, traceparent_of

from outbox.envelope import Envelope
from outbox.routing import Destination, Route, RouteFunction, Router
from outbox.schema import DEFAULT_CHANNEL, Tables

log = logging.getLogger("outbox.relay")

Row = tuple[Any, ...]

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
DEFAULT_ROUTER = Router(default=Route("outbox.event", "outbox"))


# Connection keepalives: a relay cut off by the network loses its lock (and its standby
# takes over) within about a minute instead of the kernel's two hours.
def _connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    return psycopg.connect(
        dsn,
        autocommit=autocommit,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )


@dataclass
class RelayConfig:
    dsn: str
    broker_url: str = DEFAULT_BROKER
    router: RouteFunction = DEFAULT_ROUTER
    table_prefix: str = ""
    channel: str = DEFAULT_CHANNEL
    batch_size: int = 500
    poll_interval: float = 1.0
    horizon_poll_interval: float = 0.02
    retention: timedelta = timedelta(days=7)
    prune_interval: float = 60.0
    prune_batch: int = 1000
    metrics_port: int | None = None
    metrics_interval: float = 1.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    broker_down_after: int = 3
    publish_retries: int = 2
    pipeline_size: int = 100
    celery_app: Celery | None = None
    # Chaos testing only: SIGKILL this process after this many sends of a batch, before
    # the batch's transaction commits (the worst moment for a relay to die).
    kill_after_sends: int | None = None
    kill_before_commit: bool = False
    extra_celery_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    claimed: int = 0
    published: int = 0
    held: int = 0
    failed: int = 0
    behind_horizon: bool = False


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.backlog = Gauge("outbox_backlog_rows", "Unpublished outbox rows", registry=registry)
        self.lag = Gauge(
            "outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished row (the relay's lag)",
            registry=registry,
        )
        self.published = Counter(
            "outbox_events_published", "Events sent to the broker", registry=registry
        )
        self.errors = Counter(
            "outbox_publish_errors", "Failed sends (the row is retried)", registry=registry
        )
        self.pruned = Counter(
            "outbox_pruned_rows", "Published rows deleted after the retention", registry=registry
        )
        self.batch_seconds = Histogram(
            "outbox_batch_duration_seconds",
            "Claim + publish + mark, per non-empty batch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.active = Gauge(
            "outbox_relay_active", "1 while this relay holds the leadership lock", registry=registry
        )


def _lock_key(tables: Tables) -> int:
    digest = hashlib.blake2b(f"outbox-relay:{tables.outbox}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def make_celery_app(broker_url: str, **extra: Any) -> Celery:
    """A producer-only Celery app: JSON, publisher confirms on RabbitMQ, bounded retries."""
    app = Celery("outbox-relay", broker=broker_url, set_as_current=False)
    options: dict[str, Any] = {}
    if broker_url.startswith(("amqp", "pyamqp")):
        # Without confirms, a send to RabbitMQ that the broker drops would count as done.
        options["confirm_publish"] = True
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        broker_connection_retry_on_startup=True,
        broker_transport_options=options,
        **extra,
    )
    return app


class Relay:
    """The relay loop; ``run()`` blocks until ``stop()`` (or SIGTERM via ``install_signals``)."""

    def __init__(self, config: RelayConfig, *, registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.tables = Tables(config.table_prefix)
        self.metrics = RelayMetrics(registry or CollectorRegistry())
        self.app = config.celery_app or make_celery_app(
            config.broker_url, **config.extra_celery_config
        )
        self._stop = threading.Event()
        self._lock_key = _lock_key(self.tables)
        self._next_prune = 0.0
        self._next_metrics = 0.0
        self._broker_failures = 0
        self.is_leader = False
        self._sql = _Sql(self.tables)
        self._declared: set[str] = set()
        self._limit_boost = 1
        self._batched = str(self.app.conf.broker_url or "").startswith(("redis", "rediss"))
        self._retry_policy = {
            "max_retries": config.publish_retries,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        }
        # Decided once: without an exporter a span per event would cost and show nowhere.
        self._tracer = trace.get_tracer("outbox.relay") if exporting() else None

    # -- lifecycle ---------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signals(self) -> None:
        """Stop gracefully on SIGTERM/SIGINT: the current batch finishes and commits."""

        def handler(signum: int, _frame: Any) -> None:
            log.info("signal %s: stopping after the current batch", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> None:
        if self.config.metrics_port is not None:
            server, _thread = start_http_server(
                self.config.metrics_port, registry=self.metrics.registry
            )
        else:
            server = None
        try:
            while not self.stopping:
                try:
                    self._run_connected()
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    self.is_leader = False
                    self.metrics.active.set(0)
                    log.warning("database connection lost (%s); reconnecting", exc)
                    self._stop.wait(min(self.config.poll_interval, 1.0))
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            self.metrics.active.set(0)

    def _run_connected(self) -> None:
        with (
            _connect(self.config.dsn) as conn,
            _connect(self.config.dsn, autocommit=True) as listener,
        ):
            set_json_loads(orjson.loads, conn)
            listener.execute(f"LISTEN {self.config.channel}")
            self._await_leadership(conn, listener)
            while not self.stopping:
                result = self.run_once(conn)
                self._housekeeping(conn)
                if self._broker_failures >= self.config.broker_down_after:
                    # Broker down: back off as a whole instead of spinning on every row.
                    self._stop.wait(self._broker_backoff())
                    continue
                if result.published and result.claimed >= self.config.batch_size:
                    continue  # more is waiting: no need to sleep
                if result.behind_horizon or result.held:
                    self._wait(listener, self.config.horizon_poll_interval)
                else:
                    self._wait(listener)

    def _await_leadership(
        self, conn: psycopg.Connection[Any], listener: psycopg.Connection[Any]
    ) -> None:
        while not self.stopping:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_key,)).fetchone()
            conn.commit()
            if row and row[0]:
                self.is_leader = True
                self.metrics.active.set(1)
                log.info("relay active for %s", self.tables.outbox)
                return
            self._wait(listener)

    def _wait(self, listener: psycopg.Connection[Any], timeout: float | None = None) -> None:
        """Until a NOTIFY, the poll interval, or stop(); then drain pending notifies."""
        timeout = self.config.poll_interval if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Short slices so stop() is honoured promptly even with a long poll interval.
            woken = False
            for _ in listener.notifies(timeout=min(remaining, 0.25), stop_after=1):
                woken = True
            if woken:
                # Fold the notifications that piled up meanwhile into this one wake-up.
                for _ in listener.notifies(timeout=0.001):
                    pass
                return

    def _broker_backoff(self) -> float:
        excess = self._broker_failures - self.config.broker_down_after
        return float(min(self.config.backoff_max, self.config.backoff_base * 2 ** max(excess, 0)))

    # -- one batch ---------------------------------------------------------------

    def run_once(self, conn: psycopg.Connection[Any]) -> BatchResult:
        """Claim, publish and mark one batch, in one transaction."""
        result = BatchResult()
        started = time.perf_counter()
        try:
            with conn.transaction():
                self._claim_publish_mark(conn, result)
        except _BrokerDown as exc:
            # Rolled back: nothing marked, every row of the batch is sent again later.
            self.metrics.errors.inc()
            self._broker_failures += 1
            log.warning("broker unavailable (%s); backing off", exc.__cause__ or exc)
            result.published = 0
            return result
        if result.failed >= self.config.broker_down_after:
            self._broker_failures += 1
        elif result.claimed:
            self._broker_failures = 0
        if result.published:
            self.metrics.published.inc(result.published)
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return result

    def _claim_publish_mark(self, conn: psycopg.Connection[Any], result: BatchResult) -> None:
        limit = self.config.batch_size * self._limit_boost
        rows = conn.execute(self._sql.claim, (limit,)).fetchall()
        result.claimed = len(rows)
        if len(rows) < self.config.batch_size:
            # Rows committed but not yet below the horizon wake nobody when the older
            # transaction holding them back ends: poll briefly instead of a full interval.
            result.behind_horizon = conn.execute(self._sql.behind_horizon).fetchone() is not None
        if not rows:
            self._broker_failures = 0
            return
        ordered, result.held = self._gate(conn, rows)
        # A batch of nothing but held rows (its blockers all beyond the limit) must not
        # stall the relay: look further next time, back to normal once something moves.
        self._limit_boost = min(64, self._limit_boost * 2) if not ordered else 1
        published: list[int] = []
        blocked: set[tuple[str, str]] = set()
        consecutive = sends = 0
        try:
            with (
                self.app.producer_or_acquire() as producer,
                # Redis: the sends go out as pipelines (one round trip per 100 messages)
                # instead of one round trip each; other transports send at once.
                producer.batch(max_size=self.config.pipeline_size),
            ):
                for row in ordered:
                    key = (row[2], row[3])
                    if key in blocked:
                        result.held += 1
                        continue
                    span: Span | None = None
                    try:
                        envelope = _envelope(row)
                        span = self._publish_span(envelope)
                        for destination in self.config.router(envelope):
                            self._send(producer, destination, envelope, span)
                            sends += 1
                            if sends == self.config.kill_after_sends:
                                os.kill(os.getpid(), signal.SIGKILL)
                    except Exception as exc:
                        if span is not None:
                            span.record_exception(exc)
                            span.set_status(Status(StatusCode.ERROR))
                            span.end()
                        if _is_broker_error(exc):
                            raise
                        result.failed += 1
                        consecutive += 1
                        blocked.add(key)
                        self.metrics.errors.inc()
                        self._record_failure(conn, row, exc)
                        if consecutive >= self.config.broker_down_after:
                            break
                        continue
                    if span is not None:
                        span.end()
                    consecutive = 0
                    published.append(row[0])
        except Exception as exc:
            if isinstance(exc, psycopg.Error):
                raise
            raise _BrokerDown(str(exc)) from exc
        if self.config.kill_before_commit:
            os.kill(os.getpid(), signal.SIGKILL)
        if published:
            conn.execute(self._sql.mark, (published,))
        result.published = len(published)

    def _gate(self, conn: psycopg.Connection[Any], rows: list[Row]) -> tuple[list[Row], int]:
        """Per aggregate: version order, and nothing past a lower unpublished version."""
        by_aggregate: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for row in rows:
            by_aggregate[(row[2], row[3])].append(row)
        keys = list(by_aggregate)
        blockers = {
            (agg_type, agg_id): int(version)
            for agg_type, agg_id, version in conn.execute(
                self._sql.blockers,
                (
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [max(r[4] for r in by_aggregate[k]) for k in keys],
                    [r[0] for r in rows],
                ),
            ).fetchall()
        }
        queues: dict[tuple[str, str], Iterator[Row]] = {}
        for key, group in by_aggregate.items():
            group.sort(key=lambda r: r[4])
            limit = blockers.get(key)
            queues[key] = iter([r for r in group if limit is None or r[4] < limit])
        # Keep the claim's (txid, id) positions across aggregates; fill each aggregate's
        # slots with its own events in version order.
        ordered: list[Row] = []
        for row in rows:
            nxt = next(queues[(row[2], row[3])], None)
            if nxt is not None:
                ordered.append(nxt)
        return ordered, len(rows) - len(ordered)

    def _publish_span(self, envelope: Envelope) -> Span | None:
        if self._tracer is None:
            return None
        parent = envelope["headers"].get("traceparent")
        if not parent:
            return None
        return self._tracer.start_span(
            "outbox publish",
            context=context_from_traceparent(parent),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "celery",
                "messaging.message.id": envelope["event_id"],
                "outbox.event_type": envelope["event_type"],
                "outbox.aggregate": f"{envelope['aggregate_type']}:{envelope['aggregate_id']}",
                "outbox.version": envelope["version"],
            },
        )

    def _send(
        self,
        producer: Any,
        destination: Destination,
        envelope: Envelope,
        span: Span | None = None,
    ) -> None:
        """One Celery task message, exactly what ``app.send_task`` would build and send.

        ``send_task`` is these two calls plus routing, result-backend and parent-task
        bookkeeping that a relay does not use; calling them directly doubles the send rate.
        """
        headers = {"outbox_event_id": envelope["event_id"]}
        traceparent = envelope["headers"].get("traceparent")
        if span is not None:
            traceparent = traceparent_of(span) or traceparent
        if traceparent:
            headers["traceparent"] = traceparent
        amqp = self.app.amqp
        message = amqp.create_task_message(
            envelope["event_id"],
            destination.task_name,
            [envelope],
            {},
            # Celery would otherwise saferepr() the whole envelope for its logs.
            argsrepr=f"[{envelope['event_type']} {envelope['aggregate_type']}:"
            f"{envelope['aggregate_id']} v{envelope['version']}]",
            kwargsrepr="{}",
            ignore_result=True,
        )
        # Declare each queue once per process (RabbitMQ needs it to exist; kombu's
        # per-message declare cache costs more than the rest of the send).
        declare: list[Any] | None = None if destination.queue not in self._declared else []
        amqp.send_task_message(
            producer,
            destination.task_name,
            message,
            queue=destination.queue,
            headers=headers,
            declare=declare,
            # Redis sends are pipelined: a failed flush fails the whole batch instead.
            retry=not self._batched,
            retry_policy=self._retry_policy,
        )
        self._declared.add(destination.queue)

    def _record_failure(self, conn: psycopg.Connection[Any], row: Row, exc: Exception) -> None:
        attempts = int(row[9]) + 1
        delay = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempts - 1))
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning(
            "publish of %s (%s %s v%s) failed, attempt %d, retry in %.1fs: %s",
            row[1],
            row[2],
            row[3],
            row[4],
            attempts,
            delay,
            error,
        )
        conn.execute(self._sql.fail, (error, timedelta(seconds=delay), row[0]))

    # -- housekeeping --------------------------------------------------------------

    def _housekeeping(self, conn: psycopg.Connection[Any]) -> None:
        now = time.monotonic()
        if now >= self._next_metrics:
            self._next_metrics = now + self.config.metrics_interval
            self.refresh_gauges(conn)
        if now >= self._next_prune:
            self._next_prune = now + self.config.prune_interval
            self.prune(conn)

    def refresh_gauges(self, conn: psycopg.Connection[Any]) -> tuple[int, float]:
        row = conn.execute(self._sql.backlog).fetchone()
        conn.commit()
        backlog, age = (int(row[0]), float(row[1] or 0.0)) if row else (0, 0.0)
        self.metrics.backlog.set(backlog)
        self.metrics.lag.set(age)
        return backlog, age

    def prune(self, conn: psycopg.Connection[Any]) -> int:
        """Delete published rows past the retention, ``prune_batch`` rows per transaction."""
        total = 0
        while not self.stopping:
            cur = conn.execute(self._sql.prune, (self.config.retention, self.config.prune_batch))
            conn.commit()
            total += cur.rowcount
            if cur.rowcount < self.config.prune_batch:
                break
        if total:
            self.metrics.pruned.inc(total)
            log.info("pruned %d published rows older than %s", total, self.config.retention)
        return total


class _BrokerDown(Exception):
    """The broker refused or lost a batch: roll back, back off, send it all again."""


def _is_broker_error(exc: BaseException) -> bool:
    from kombu.exceptions import OperationalError as KombuOperationalError

    return isinstance(exc, (KombuOperationalError, ConnectionError, OSError, TimeoutError))


def _envelope(row: Row) -> Envelope:
    return {
        "event_id": str(row[1]),
        "aggregate_type": row[2],
        "aggregate_id": row[3],
        "version": int(row[4]),
        "event_type": row[5],
        "payload": row[6],
        "headers": row[7],
        "created_at": row[8].isoformat(),
    }


class _Sql:
    def __init__(self, t: Tables) -> None:
        # Columns: 0 id, 1 event_id, 2 aggregate_type, 3 aggregate_id, 4 version,
        # 5 event_type, 6 payload, 7 headers, 8 created_at, 9 attempts.
        self.claim = f"""
            SELECT o.id, o.event_id, o.aggregate_type, o.aggregate_id, o.version,
                   o.event_type, o.payload, o.headers, o.created_at, o.attempts
            FROM {t.outbox} o
            WHERE o.published_at IS NULL
              AND o.txid < pg_snapshot_xmin(pg_current_snapshot())
              AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
              AND NOT EXISTS (
                  SELECT 1 FROM {t.outbox} b
                  WHERE b.published_at IS NULL AND b.next_attempt_at IS NOT NULL
                    AND b.next_attempt_at > now()
                    AND b.aggregate_type = o.aggregate_type AND b.aggregate_id = o.aggregate_id)
              -- The previous version committed in a transaction with a larger xid (it got
              -- its xid later but wrote the aggregate first): that one goes first.
              AND NOT EXISTS (
                  SELECT 1 FROM {t.outbox} e
                  WHERE e.published_at IS NULL
                    AND e.aggregate_type = o.aggregate_type AND e.aggregate_id = o.aggregate_id
                    AND e.version = o.version - 1 AND (e.txid, e.id) > (o.txid, o.id))
            ORDER BY o.txid, o.id
            LIMIT %s
            FOR UPDATE OF o SKIP LOCKED
        """
        self.blockers = f"""
            SELECT o.aggregate_type, o.aggregate_id, min(o.version)
            FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS a(agg_type, agg_id, max_version)
            JOIN {t.outbox} o
              ON o.aggregate_type = a.agg_type AND o.aggregate_id = a.agg_id
             AND o.version < a.max_version AND o.published_at IS NULL
            WHERE o.id <> ALL (%s::bigint[])
            GROUP BY 1, 2
        """
        self.mark = f"""
            UPDATE {t.outbox}
            SET published_at = clock_timestamp(), attempts = attempts + 1,
                next_attempt_at = NULL, last_error = NULL
            WHERE id = ANY (%s::bigint[])
        """
        self.fail = f"""
            UPDATE {t.outbox}
            SET attempts = attempts + 1, last_error = %s, next_attempt_at = now() + %s
            WHERE id = %s
        """
        self.backlog = f"""
            SELECT count(*), extract(epoch FROM clock_timestamp() - min(created_at))
            FROM {t.outbox} WHERE published_at IS NULL
        """
        self.behind_horizon = f"""
            SELECT 1 FROM {t.outbox}
            WHERE published_at IS NULL AND txid >= pg_snapshot_xmin(pg_current_snapshot())
            LIMIT 1
        """
        self.prune = f"""
            DELETE FROM {t.outbox} WHERE id IN (
                SELECT id FROM {t.outbox}
                WHERE published_at IS NOT NULL AND published_at < now() - %s
                ORDER BY published_at LIMIT %s)
        """


def run_relay(config: RelayConfig, *, on_ready: Callable[[Relay], None] | None = None) -> None:
    """Run a relay in this process until SIGTERM/SIGINT (what the CLI does)."""
    relay = Relay(config)
    relay.install_signals()
    if on_ready:
        on_ready(relay)
    relay.run()
