"""Batched consumption: the same outcomes as one by one, fewer transactions; and outages."""

from __future__ import annotations

import os
import random
import signal
import socket
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from outbox_testlib import applied, celery_worker, query, rabbitmq_url, running_relay, wait_for

from outbox.envelope import Envelope
from outbox.inbox import Consumer, Outcome
from outbox.relay import RelayConfig
from outbox.routing import Route, Router
from outbox.writer import NewEvent, record_event, record_events

TASK = "outbox.test.apply"


def _envelope(aggregate_id: str, version: int, **payload: Any) -> Envelope:
    return {
        "event_id": str(uuid.uuid4()), "aggregate_type": "product", "aggregate_id": aggregate_id,
        "version": version, "event_type": "Changed", "payload": payload, "headers": {},
        "created_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip


def _logger(consumer: str) -> Any:
    def log(cursor: Any, envelope: Envelope) -> None:
        if envelope["payload"].get("poison"):
            raise RuntimeError("poison")
        cursor.execute(
            "INSERT INTO applied_log (consumer, event_id, aggregate_type, aggregate_id, version, "
            "pid) VALUES (%s, %s, %s, %s, %s, 0)",
            (consumer, envelope["event_id"], envelope["aggregate_type"],
             envelope["aggregate_id"], envelope["version"]),
        )  # fmt: skip

    return log


def _state(dsn: str, consumer: str) -> tuple[list[Any], ...]:
    """What a consumer left behind: applied versions, inbox ids, parked events."""
    return tuple(
        query(dsn, f"SELECT {cols} FROM {table} WHERE consumer = %s ORDER BY 1, 2", (consumer,))
        for table, cols in [("inbox_applied_version", "aggregate_id, version"),
                            ("inbox", "event_id, version"), ("parked_events", "event_id, version")]
    )  # fmt: skip


def _newest(rows: list[tuple[str, int]]) -> dict[str, int]:
    newest: dict[str, int] = {}
    for agg, version in rows:
        newest[agg] = max(newest.get(agg, 0), version)
    return newest


@pytest.mark.parametrize("seed", range(6))
def test_a_batch_ends_exactly_where_one_by_one_ends(dsn: str, seed: int) -> None:
    """Random batches with reordering, duplicates, stale versions, a parked aggregate and a
    malformed envelope: outcomes, inbox, versions and parking equal the one-by-one run."""
    rng = random.Random(seed)
    one = Consumer("one", _logger("one"), dsn=dsn, max_attempts=2, backoff_base=0.01)
    many = Consumer("many", _logger("many"), dsn=dsn, max_attempts=2, backoff_base=0.01)
    # Aggregate "p" is parked for both before the batches arrive.
    poison = _envelope("p", 1, poison=True)
    assert one.process(poison) is many.process(poison) is Outcome.PARKED
    versions = {str(a): 0 for a in range(5)}
    sent: list[Any] = []
    for _ in range(8):
        batch: list[Any] = []
        for _ in range(rng.randrange(1, 25)):
            agg = rng.choice([*versions, "p"])
            if agg != "p" and rng.random() < 0.8:
                versions[agg] += 1
                batch.append(_envelope(agg, versions[agg]))
            elif sent and rng.random() < 0.5:
                batch.append(rng.choice(sent))  # a redelivered duplicate
            else:
                batch.append(_envelope(agg, rng.randrange(1, 4)))  # late or parked-behind
        rng.shuffle(batch)  # within a batch, even one aggregate may arrive out of order
        if rng.random() < 0.3:
            batch.insert(rng.randrange(len(batch) + 1), {"not": "an envelope"})
        sent.extend(e for e in batch if "event_id" in e)
        expected = []
        for envelope in batch:
            try:
                expected.append(one.process(envelope))
            except ValueError:
                expected.append(None)
        got = many.process_batch(batch)
        for want, outcome in zip(expected, got, strict=True):
            if want in (Outcome.APPLIED, Outcome.STALE):
                # A batch may skip an older event that one by one would have applied just
                # before its successor: the end state below is the same.
                assert outcome in (Outcome.APPLIED, Outcome.STALE)
            else:
                assert outcome is want
    assert _state(dsn, "one") == _state(dsn, "many")
    assert _newest(applied(dsn, "one")) == _newest(applied(dsn, "many"))
    one._reset()
    many._reset()


def test_a_poison_event_in_a_batch_parks_only_its_aggregate(dsn: str) -> None:
    consumer = Consumer("test", _logger("test"), dsn=dsn, max_attempts=2, backoff_base=0.01)
    batch = [_envelope("a", 1), _envelope("b", 1), _envelope("c", 1),
             _envelope("b", 2, poison=True), _envelope("a", 2)]  # fmt: skip
    # The batch fails as a whole, then runs one by one: b parks at v2.
    assert consumer.process_batch(batch) == [
        Outcome.APPLIED, Outcome.APPLIED, Outcome.APPLIED, Outcome.PARKED, Outcome.APPLIED,
    ]  # fmt: skip
    # The next batch goes the set-based way again; b's new event waits behind its poison.
    assert consumer.process_batch([_envelope("b", 3), _envelope("c", 2)]) == [
        Outcome.PARKED_BEHIND, Outcome.APPLIED,
    ]  # fmt: skip
    assert sorted(applied(dsn)) == [("a", 1), ("a", 2), ("b", 1), ("c", 1), ("c", 2)]
    consumer._reset()


def test_latest_ordering_applies_only_the_newest_event_of_an_aggregate_in_a_batch(dsn: str) -> None:
    consumer = Consumer("test", _logger("test"), dsn=dsn)
    batch = [_envelope("a", v) for v in (1, 2, 3)] + [_envelope("b", 1)]
    assert consumer.process_batch(batch) == [Outcome.STALE, Outcome.STALE, Outcome.APPLIED,
                                             Outcome.APPLIED]  # fmt: skip
    assert sorted(applied(dsn)) == [("a", 3), ("b", 1)]
    consumer._reset()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_database_outage_makes_the_lane_wait_instead_of_parking(dsn: str) -> None:
    """Nothing listens at first (a real refused connection); then the database is back."""
    down = f"postgresql://postgres@127.0.0.1:{_closed_port()}/none?connect_timeout=2"
    attempts: list[str] = []

    def connect() -> psycopg.Connection[Any]:
        attempts.append("down" if len(attempts) < 4 else "up")
        return psycopg.connect(down if len(attempts) <= 4 else dsn)

    consumer = Consumer("test", _logger("test"), connect=connect, max_attempts=1,
                        backoff_base=0.01)  # fmt: skip
    assert consumer.process(_envelope("x", 1)) is Outcome.APPLIED  # one attempt allowed, none spent
    assert attempts[:5] == ["down"] * 4 + ["up"]
    assert query(dsn, "SELECT count(*) FROM parked_events") == [(0,)]
    # A connection that dies under a batch: the batch is replayed after reconnecting.
    conn = consumer.connection()
    query(dsn, "SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))  # type: ignore[attr-defined]
    assert consumer.process_batch([_envelope("x", 2), _envelope("y", 1)]) == [
        Outcome.APPLIED, Outcome.APPLIED,
    ]  # fmt: skip
    assert sorted(applied(dsn)) == [("x", 1), ("x", 2), ("y", 1)]
    consumer._reset()


# -- real workers -------------------------------------------------------------------------


def _relay_config(dsn: str, broker: str, queue: str) -> RelayConfig:
    return RelayConfig(dsn=dsn, broker_url=broker, router=Router(default=Route(TASK, queue)),
                       poll_interval=0.2)  # fmt: skip


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_batching_worker_applies_every_event_once_in_order(
    dsn: str, queue: str, broker: str
) -> None:
    url = os.environ["REDIS_URL"] if broker == "redis" else rabbitmq_url()
    with psycopg.connect(dsn) as conn:
        record_events(conn.cursor(),
                      [NewEvent("product", str(i % 7), "E", {"i": i}) for i in range(400)])  # fmt: skip
    with (
        celery_worker(url, dsn, [queue], pool="solo", OUTBOX_TEST_BATCH="50"),
        running_relay(_relay_config(dsn, url, queue)),
    ):
        wait_for(lambda: query(dsn, "SELECT count(*) FROM inbox") == [(400,)], timeout=60,
                 what="400 events claimed")  # fmt: skip
    rows = applied(dsn)
    assert len(rows) == len(set(rows))  # no effect twice
    last: dict[str, int] = {}
    for agg, version in rows:  # versions only ever move forward per aggregate
        assert version > last.get(agg, 0)
        last[agg] = version
    # Each aggregate ends at its newest version, whichever events were coalesced away.
    assert last == {str(a): len(range(a, 400, 7)) for a in range(7)}


def test_a_batching_worker_killed_mid_batch_loses_nothing(
    dsn: str, redis_url: str, queue: str, tmp_path: Path
) -> None:
    marker = tmp_path / "blocked.pid"
    env = {"OUTBOX_TEST_MARKER": str(marker), "OUTBOX_TEST_VISIBILITY": "3",
           "OUTBOX_TEST_BATCH": "20"}  # fmt: skip
    with psycopg.connect(dsn) as conn:
        record_events(conn.cursor(), [NewEvent("product", str(i), "E", {}) for i in range(10)])
        record_event(conn.cursor(), aggregate_type="product", aggregate_id="k",
                     event_type="E", payload={"block_once": True})  # fmt: skip
        record_events(conn.cursor(), [NewEvent("product", str(i), "E", {}) for i in range(10, 20)])
    with running_relay(_relay_config(dsn, redis_url, queue)):
        with celery_worker(redis_url, dsn, [queue], pool="solo", **env) as first:
            wait_for(marker.exists, timeout=60, what="the batch to start")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        assert applied(dsn) == []  # the batch's transaction never committed
        with celery_worker(redis_url, dsn, [queue], pool="solo", **env):
            wait_for(lambda: len(applied(dsn)) == 21, timeout=60, what="all 21 events applied")
    assert sorted(applied(dsn)) == sorted([(str(i), 1) for i in range(20)] + [("k", 1)])
