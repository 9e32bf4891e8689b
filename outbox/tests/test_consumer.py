"""The consumer side with real Celery workers on Redis and RabbitMQ."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from outbox_testlib import (
    applied,
    celery_worker,
    query,
    rabbitmq_url,
    running_relay,
    wait_for,
    worker_env,
)

from outbox import inbox
from outbox.envelope import Envelope
from outbox.inbox import Consumer, Outcome
from outbox.relay import RelayConfig
from outbox.routing import Route, Router
from outbox.writer import NewEvent, record_event, record_events

TASK = "outbox.test.apply"


def _relay_config(dsn: str, broker: str, queue: str, **kw: Any) -> RelayConfig:
    return RelayConfig(dsn=dsn, broker_url=broker, router=Router(default=Route(TASK, queue)),
                       poll_interval=0.2, **kw)  # fmt: skip


def _record(dsn: str, aggregate_id: str, **payload: Any) -> None:
    with psycopg.connect(dsn) as conn:
        record_event(conn.cursor(), aggregate_type="product", aggregate_id=aggregate_id,
                     event_type="Changed", payload=payload)  # fmt: skip


def _in_order(rows: list[tuple[str, int]]) -> bool:
    last: dict[str, int] = {}
    for agg, version in rows:
        if version <= last.get(agg, 0):
            return False
        last[agg] = version
    return True


def test_end_to_end_effects_exactly_once_in_order(dsn: str, broker_url: str, queue: str) -> None:
    with psycopg.connect(dsn) as conn:
        record_events(
            conn.cursor(), [NewEvent("product", str(i % 5), "E", {"i": i}) for i in range(60)]
        )
    with (
        celery_worker(broker_url, dsn, [queue]),
        running_relay(_relay_config(dsn, broker_url, queue)),
    ):
        wait_for(lambda: len(applied(dsn)) == 60, timeout=60, what="60 events applied")
        # Send everything again (what a relay crash before commit does): all duplicates.
        query(dsn, "UPDATE outbox SET published_at = NULL WHERE version <= 6 RETURNING 1")
        wait_for(lambda: query(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == [(0,)],
                 what="the re-send")  # fmt: skip
        _record(dsn, "0", marker="last")  # goes behind the duplicates on the same queue
        wait_for(lambda: len(applied(dsn)) == 61, timeout=60, what="the last event")
    rows = applied(dsn)
    assert len(rows) == len(set(rows)) == 61  # every effect exactly once
    assert _in_order(rows)
    assert query(dsn, "SELECT count(*) FROM inbox WHERE consumer = 'test'") == [(61,)]


def inbox_count(dsn: str, consumer: str = "test") -> int:
    return int(query(dsn, "SELECT count(*) FROM inbox WHERE consumer = %s", (consumer,))[0][0])


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_worker_killed_mid_task_is_redelivered(
    dsn: str, queue: str, tmp_path: Path, broker: str
) -> None:
    url = os.environ["REDIS_URL"] if broker == "redis" else rabbitmq_url()
    marker = tmp_path / "blocked.pid"
    # Redis redelivers an unacknowledged message after the visibility timeout: low here.
    env = {"OUTBOX_TEST_MARKER": str(marker), "OUTBOX_TEST_VISIBILITY": "3"}
    _record(dsn, "k", block_once=True)
    _record(dsn, "k", after=True)
    with running_relay(_relay_config(dsn, url, queue)):
        with celery_worker(url, dsn, [queue], **env) as first:
            wait_for(marker.exists, timeout=60, what="the task to start")
            os.killpg(first.pid, signal.SIGKILL)  # the whole worker: parent and child
            first.wait(timeout=30)
        assert applied(dsn) == []
        with celery_worker(url, dsn, [queue], **env):
            # v1 was unacknowledged when its worker died: it must reach the new worker.
            # v2 may overtake it (v1 becomes visible again only after the visibility
            # timeout), in which case the version check records v1 as stale: its effect
            # is superseded, never lost and never applied out of order.
            wait_for(lambda: inbox_count(dsn) == 2, timeout=60, what="redelivery of v1")
            wait_for(lambda: ("k", 2) in applied(dsn), timeout=60, what="v2 applied")
    assert applied(dsn) in ([("k", 1), ("k", 2)], [("k", 2)])


def test_worker_child_killed_is_rejected_and_redelivered(
    dsn: str, redis_url: str, queue: str, tmp_path: Path
) -> None:
    marker = tmp_path / "blocked.pid"
    with running_relay(_relay_config(dsn, redis_url, queue)), \
            celery_worker(redis_url, dsn, [queue], OUTBOX_TEST_MARKER=str(marker)):  # fmt: skip
        _record(dsn, "c", block_once=True)
        wait_for(
            lambda: marker.exists() and marker.read_text(), timeout=60, what="the task to start"
        )
        os.kill(int(marker.read_text()), signal.SIGKILL)  # only the pool child
        # task_reject_on_worker_lost: requeued at once, not acked and lost.
        wait_for(lambda: applied(dsn), timeout=60, what="the requeued task")
    assert applied(dsn) == [("c", 1)]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**env, "COLUMNS": "250"}  # rich wraps tables at 80 columns without a terminal
    return subprocess.run([sys.executable, "-m", "outbox", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


def test_poison_event_parks_only_its_aggregate_and_release_replays_it(
    dsn: str, redis_url: str, queue: str, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    env = {"OUTBOX_TEST_FIXED": str(fixed)}
    with (
        running_relay(_relay_config(dsn, redis_url, queue)),
        celery_worker(redis_url, dsn, [queue], **env),
    ):
        _record(dsn, "bad", n=1)
        _record(dsn, "bad", n=2, poison=True)
        _record(dsn, "bad", n=3)
        for n in range(1, 4):
            _record(dsn, "good", n=n)
        wait_for(lambda: len(applied(dsn)) == 4, timeout=60, what="the healthy events")
        wait_for(
            lambda: len(query(dsn, "SELECT 1 FROM parked_events")) == 2, what="2 parked events"
        )
        assert sorted(applied(dsn)) == [("bad", 1), ("good", 1), ("good", 2), ("good", 3)]
        parked = query(dsn, "SELECT version, attempts, error FROM parked_events ORDER BY version")
        assert parked[0][:2] == (2, 3) and "poison" in parked[0][2]
        assert parked[1][0] == 3 and "waiting behind" in parked[1][2]
        _record(dsn, "good", n=4)  # other aggregates keep flowing
        wait_for(lambda: ("good", 4) in applied(dsn), what="good v4")

        listing = _cli("parked", "list", "--dsn", dsn, env=worker_env(redis_url, dsn, **env))
        assert listing.returncode == 0 and "product:bad" in listing.stdout, listing.stderr
        still_broken = _cli("parked", "release", "--consumer", "consumer_app:task", "product", "bad",
                            env=worker_env(redis_url, dsn, **env))  # fmt: skip
        assert still_broken.returncode == 1 and "poison" in still_broken.stdout
        assert len(query(dsn, "SELECT 1 FROM parked_events")) == 2  # nothing skipped

        fixed.touch()  # the fix is deployed
        released = _cli("parked", "release", "--consumer", "consumer_app:task", "product", "bad",
                        env=worker_env(redis_url, dsn, **env))  # fmt: skip
        assert released.returncode == 0, released.stdout + released.stderr
        assert "applied 2" in released.stdout
        _record(dsn, "bad", n=4)
        wait_for(lambda: ("bad", 4) in applied(dsn), what="bad v4 after the release")
    assert [v for a, v in applied(dsn) if a == "bad"] == [1, 2, 3, 4]
    assert query(dsn, "SELECT count(*) FROM parked_events") == [(0,)]


def test_an_event_that_kills_its_worker_is_parked_not_redelivered_forever(
    dsn: str, redis_url: str, queue: str
) -> None:
    with (
        running_relay(_relay_config(dsn, redis_url, queue)),
        celery_worker(redis_url, dsn, [queue]),
    ):
        _record(dsn, "oom", kill_worker=True)
        _record(dsn, "fine")
        wait_for(lambda: query(dsn, "SELECT 1 FROM parked_events"), timeout=90, what="the parking")
        wait_for(lambda: applied(dsn) == [("fine", 1)], what="the other aggregate")
    error = query(dsn, "SELECT error FROM parked_events")[0][0]
    assert "repeated deliveries" in error


# -- the building blocks, in-process -------------------------------------------------------


def _envelope(aggregate_id: str, version: int, **payload: Any) -> Envelope:
    import uuid

    return {
        "event_id": str(uuid.uuid4()), "aggregate_type": "product", "aggregate_id": aggregate_id,
        "version": version, "event_type": "Changed", "payload": payload, "headers": {},
        "created_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip


def _log(cursor: Any, envelope: Envelope) -> None:
    cursor.execute(
        "INSERT INTO applied_log (consumer, event_id, aggregate_type, aggregate_id, version, pid) "
        "VALUES ('test', %s, %s, %s, %s, 0)",
        (
            envelope["event_id"],
            envelope["aggregate_type"],
            envelope["aggregate_id"],
            envelope["version"],
        ),
    )


def test_claim_is_false_for_a_duplicate(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        cur = conn.cursor()
        env = _envelope("1", 1)
        assert inbox.claim(cur, "c", env["event_id"], envelope=env)
        assert not inbox.claim(cur, "c", env["event_id"])
        assert inbox.claim(cur, "other-consumer", env["event_id"])  # each consumer dedupes alone
        assert inbox.applied_version(cur, "c", "product", "1") == 0
        assert inbox.advance_version(cur, "c", "product", "1", 5)
        assert not inbox.advance_version(cur, "c", "product", "1", 4)
        assert inbox.applied_version(cur, "c", "product", "1") == 5
        assert not inbox.is_parked(cur, "c", "product", "1")
        assert inbox.park(cur, "c", env, "boom")
        assert inbox.is_parked(cur, "c", "product", "1")


def test_latest_ordering_skips_stale_and_strict_ordering_parks_gaps(dsn: str) -> None:
    latest = Consumer("test", _log, dsn=dsn, ordering="latest")
    assert latest.process(_envelope("a", 2)) is Outcome.APPLIED
    assert latest.process(_envelope("a", 1)) is Outcome.STALE
    dup = _envelope("a", 3)
    assert latest.process(dup) is Outcome.APPLIED
    assert latest.process(dup, redelivered=True) is Outcome.DUPLICATE

    strict = Consumer("test", _log, dsn=dsn, ordering="strict", max_attempts=2, backoff_base=0.01)
    assert strict.process(_envelope("s", 1)) is Outcome.APPLIED
    assert strict.process(_envelope("s", 3)) is Outcome.PARKED  # v2 never came
    v4 = _envelope("s", 4)
    assert strict.process(v4) is Outcome.PARKED_BEHIND
    v2 = _envelope("s", 2)
    assert strict.process(v2) is Outcome.PARKED_BEHIND  # late v2 waits too, then goes first
    result = strict.release("product", "s")
    assert (result.applied, result.remaining, result.error) == (3, 0, None)
    assert [v for a, v in applied(dsn) if a == "s"] == [1, 2, 3, 4]
    assert [v for a, v in applied(dsn) if a == "a"] == [2, 3]
    latest._reset()
    strict._reset()
