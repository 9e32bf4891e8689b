"""Spans and counters of the consumer and the relay: each event joins its writer's trace."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import psycopg
import redis
from opentelemetry.trace import SpanKind
from outbox_testlib import query, redis_envelopes, running_relay, wait_for
from shop_telemetry.testing import span_recorder

from outbox.envelope import Envelope
from outbox.inbox import CONSUMED, Consumer, Outcome
from outbox.relay import RelayConfig
from outbox.routing import Route, Router
from outbox.writer import record_event

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _traceparent(span: int) -> str:
    return f"00-{TRACE}-{span:016x}-01"


def _envelope(aggregate_id: str, version: int, parent: int | None) -> Envelope:
    headers = {"traceparent": _traceparent(parent)} if parent else {}
    return {
        "event_id": str(uuid.uuid4()), "aggregate_type": "product", "aggregate_id": aggregate_id,
        "version": version, "event_type": "Changed", "payload": {}, "headers": headers,
        "created_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip


def _apply(cursor: Any, envelope: Envelope) -> None:
    cursor.execute("SELECT 1")
    cursor.fetchone()


def _count(consumer: str, outcome: str) -> float:
    return CONSUMED.labels(consumer, outcome)._value.get()  # type: ignore[attr-defined,no-any-return]


def test_each_event_of_a_batch_is_a_consumer_span_child_of_its_own_traceparent(dsn: str) -> None:
    recorder = span_recorder()
    name = f"tel-{uuid.uuid4().hex[:6]}"
    consumer = Consumer(name, _apply, dsn=dsn)
    a, a_older, b = _envelope("a", 2, 0xA1), _envelope("a", 1, 0xA0), _envelope("b", 1, 0xB1)
    try:
        first = consumer.process_batch([a, a_older, b])
        again = consumer.process_batch([b])
    finally:
        consumer._reset()
    assert first == [Outcome.APPLIED, Outcome.STALE, Outcome.APPLIED]
    assert again == [Outcome.DUPLICATE]
    spans = [s for s in recorder.get_finished_spans() if s.name == "outbox consume"]
    got = {
        (s.attributes["outbox.aggregate"], s.attributes["outbox.version"]):  # type: ignore[index]
        (s.parent.span_id if s.parent else None, s.attributes["outbox.outcome"])  # type: ignore[index]
        for s in spans[:3]
    }
    assert got == {
        ("product:a", 2): (0xA1, "applied"),
        ("product:a", 1): (0xA0, "stale"),
        ("product:b", 1): (0xB1, "applied"),
    }
    assert all(s.kind is SpanKind.CONSUMER for s in spans)
    assert all(format(s.context.trace_id, "032x") == TRACE for s in spans)
    assert spans[3].attributes is not None and spans[3].attributes["outbox.outcome"] == "duplicate"
    assert (_count(name, "applied"), _count(name, "stale"), _count(name, "duplicate")) == (2, 1, 1)


def test_one_by_one_and_parked_events_are_spans_and_counts_too(dsn: str) -> None:
    recorder = span_recorder()
    name = f"tel-{uuid.uuid4().hex[:6]}"

    def fail(cursor: Any, envelope: Envelope) -> None:
        raise RuntimeError("poison")

    consumer = Consumer(name, fail, dsn=dsn, max_attempts=2, backoff_base=0.001)
    try:
        assert consumer.process(_envelope("p", 1, 0xC1)) is Outcome.PARKED
    finally:
        consumer._reset()
    (span,) = [s for s in recorder.get_finished_spans() if s.name == "outbox consume"]
    assert span.parent is not None and span.parent.span_id == 0xC1
    assert span.attributes is not None and span.attributes["outbox.outcome"] == "parked"
    assert _count(name, "parked") == 1


def test_the_relay_publishes_each_traced_event_in_a_producer_span(
    dsn: str, redis_url: str, queue: str
) -> None:
    recorder = span_recorder()  # installs an exporter: the relay traces from now on
    with psycopg.connect(dsn) as conn:
        record_event(
            conn.cursor(),
            aggregate_type="product",
            aggregate_id="t",
            event_type="Changed",
            payload={},
            headers={"traceparent": _traceparent(7)},
        )
        record_event(conn.cursor(), aggregate_type="product", aggregate_id="u",
                     event_type="Changed", payload={})  # fmt: skip
    config = RelayConfig(dsn=dsn, broker_url=redis_url, poll_interval=0.2,
                         router=Router(default=Route("outbox.test.apply", queue)))  # fmt: skip
    with running_relay(config):
        wait_for(lambda: len(redis_envelopes(redis_url, queue)) == 2, what="both sent")
    (span,) = [s for s in recorder.get_finished_spans() if s.name == "outbox publish"]
    assert span.kind is SpanKind.PRODUCER
    assert span.parent is not None and span.parent.span_id == 7
    assert format(span.context.trace_id, "032x") == TRACE
    # The envelope keeps the writer's traceparent: the consumers' spans are its children.
    traced = [e for e in redis_envelopes(redis_url, queue) if e["headers"].get("traceparent")]
    assert [e["headers"]["traceparent"] for e in traced] == [_traceparent(7)]
    # The Celery message's own header names the relay's span (a plain Celery consumer
    # instrumented by OpenTelemetry would continue from there).
    client = redis.Redis.from_url(redis_url)
    try:
        headers = [orjson.loads(m)["headers"] for m in client.lrange(queue, 0, -1)]
    finally:
        client.close()
    published = f"00-{TRACE}-{span.context.span_id:016x}-01"
    assert [h["traceparent"] for h in headers if "traceparent" in h] == [published]
    assert query(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == [(0,)]
