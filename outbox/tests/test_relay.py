"""The relay against real PostgreSQL and Redis: order, wake-up, failures, crashes, pruning."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from outbox_testlib import query, redis_envelopes, running_relay, wait_for

from outbox.relay import Relay, RelayConfig
from outbox.routing import Destination, Route, Router
from outbox.writer import NewEvent, record_event, record_events


def _config(dsn: str, redis_url: str, queue: str, **kw: Any) -> RelayConfig:
    kw.setdefault("router", Router(default=Route("outbox.test.apply", queue)))
    return RelayConfig(dsn=dsn, broker_url=redis_url, **kw)


def _record(conn: psycopg.Connection[Any], aggregate_id: str, **payload: Any) -> int:
    event = record_event(conn.cursor(), aggregate_type="product", aggregate_id=aggregate_id,
                         event_type="Changed", payload=payload)  # fmt: skip
    assert event is not None
    return event.version


def _pairs(envelopes: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["aggregate_id"], e["version"]) for e in envelopes]


def test_a_late_commit_is_never_skipped(dsn: str, redis_url: str, queue: str) -> None:
    relay = Relay(_config(dsn, redis_url, queue))
    with psycopg.connect(dsn) as a, psycopg.connect(dsn) as b, psycopg.connect(dsn) as rc:
        _record(a, "A")  # A inserts first (smaller xid) ...
        _record(b, "B")
        b.commit()  # ... but B commits first.
        # A is still open: B is below no horizon yet, so nothing is claimable. A cursor
        # that took B now would move past A's row; the relay waits for A instead.
        first = relay.run_once(rc)
        assert (first.claimed, first.published) == (0, 0)
        assert first.behind_horizon
        a.commit()
        second = relay.run_once(rc)
    assert (second.claimed, second.published) == (2, 2)
    assert _pairs(redis_envelopes(redis_url, queue)) == [("A", 1), ("B", 1)]


def test_version_order_beats_xid_order_within_an_aggregate(
    dsn: str, redis_url: str, queue: str
) -> None:
    # B takes its xid first but writes the aggregate after A committed: B has the smaller
    # xid and the larger version. Claiming by xid alone would send v2 before v1.
    with psycopg.connect(dsn) as a, psycopg.connect(dsn) as b, psycopg.connect(dsn) as rc:
        b.execute("SELECT pg_current_xact_id()")
        assert _record(a, "X") == 1
        a.commit()
        assert _record(b, "X") == 2
        b.commit()
        txids = query(dsn, "SELECT version, txid::text::bigint FROM outbox ORDER BY version")
        assert txids[1][1] < txids[0][1]
        for batch_size in (1, 500):  # a batch holding only v2 must not send it either
            relay = Relay(_config(dsn, redis_url, queue, batch_size=batch_size))
            while relay.run_once(rc).claimed:
                pass
            query(dsn, "UPDATE outbox SET published_at = NULL RETURNING 1")
        assert _pairs(redis_envelopes(redis_url, queue)) == [("X", 1), ("X", 2)] * 2


def test_notify_wakes_the_relay_at_once(dsn: str, redis_url: str, queue: str) -> None:
    # A 30 s poll interval: only NOTIFY can explain a fast delivery.
    with running_relay(_config(dsn, redis_url, queue, poll_interval=30.0)) as relay:
        wait_for(lambda: relay.is_leader, what="leadership")
        latencies = []
        for i in range(5):
            with psycopg.connect(dsn) as conn:
                _record(conn, "n", i=i)
            committed = time.monotonic()
            wait_for(lambda i=i: len(redis_envelopes(redis_url, queue)) == i + 1, timeout=10,
                     what="the event on the broker")  # fmt: skip
            latencies.append(time.monotonic() - committed)
    assert max(latencies) < 0.5, latencies
    rows = query(dsn, "SELECT extract(epoch FROM published_at - created_at) FROM outbox")
    assert max(float(r[0]) for r in rows) < 0.5


def test_a_failing_publish_backs_off_only_its_own_aggregate(
    dsn: str, redis_url: str, queue: str
) -> None:
    failures = {"left": 2}

    def router(envelope: Any) -> list[Destination]:
        if envelope["aggregate_id"] == "bad" and failures["left"] > 0:
            failures["left"] -= 1
            raise LookupError("routing table not loaded yet")
        return [Destination("outbox.test.apply", queue)]

    with psycopg.connect(dsn) as conn:
        for i in range(3):
            _record(conn, "bad", i=i)
            _record(conn, "good", i=i)
    relay = Relay(_config(dsn, redis_url, queue, router=router, backoff_base=0.05, backoff_max=0.2))
    with psycopg.connect(dsn) as rc:
        first = relay.run_once(rc)
        assert (first.published, first.failed) == (3, 1)  # "good" flowed; "bad" waits
        assert _pairs(redis_envelopes(redis_url, queue)) == [("good", 1), ("good", 2), ("good", 3)]
        row = query(
            dsn,
            "SELECT attempts, last_error FROM outbox WHERE aggregate_id = 'bad' AND version = 1",
        )
        assert row[0][0] == 1 and "routing table not loaded yet" in row[0][1]
        wait_for(lambda: relay.run_once(rc).published, timeout=10, what="the retry after backoff")
        while relay.run_once(rc).claimed:
            pass
    sent = _pairs(redis_envelopes(redis_url, queue))
    assert [v for a, v in sent if a == "bad"] == [1, 2, 3]
    assert query(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == [(0,)]


def test_pruning_deletes_old_published_rows_in_small_batches(
    dsn: str, redis_url: str, queue: str
) -> None:
    with psycopg.connect(dsn) as conn:
        record_events(
            conn.cursor(), [NewEvent("product", str(i % 7), "E", {"i": i}) for i in range(250)]
        )
    relay = Relay(_config(dsn, redis_url, queue, retention=timedelta(hours=1), prune_batch=40))
    with psycopg.connect(dsn) as rc:
        relay.run_once(rc)
        query(
            dsn,
            "UPDATE outbox SET published_at = now() - interval '2 hours' WHERE id % 5 <> 0 RETURNING 1",
        )
        with psycopg.connect(dsn) as conn:  # an unpublished old row must survive
            _record(conn, "fresh")
            conn.execute(
                "UPDATE outbox SET created_at = now() - interval '3 days' WHERE aggregate_id = 'fresh'"
            )
        assert relay.prune(rc) == 200
    assert query(dsn, "SELECT count(*), count(published_at) FROM outbox") == [(51, 50)]
    # Versions continue after pruning: the counter table is never pruned.
    with psycopg.connect(dsn) as conn:
        assert _record(conn, "0") == 37


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_show_backlog_lag_and_throughput(dsn: str, redis_url: str, queue: str) -> None:
    port = _free_port()
    with psycopg.connect(dsn) as conn:
        record_events(conn.cursor(), [NewEvent("product", "m", "E", {"i": i}) for i in range(30)])
        conn.execute("UPDATE outbox SET created_at = now() - interval '5 seconds'")
    config = _config(dsn, redis_url, queue, metrics_port=port, metrics_interval=0.05)

    def scrape() -> dict[str, float]:
        try:
            body = (
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
                .read()
                .decode()
            )
        except OSError:
            return {}  # the server is not up yet
        return {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in body.splitlines()
            if line.startswith("outbox_") and " " in line
        }

    relay = Relay(config)
    with psycopg.connect(dsn) as rc:
        lag = relay.refresh_gauges(rc)
        assert lag[0] == 30 and lag[1] >= 5
    with running_relay(config):
        metrics = wait_for(lambda: (m := scrape()).get("outbox_events_published_total") == 30 and m,
                           what="published_total == 30")  # fmt: skip
        metrics = wait_for(
            lambda: (m := scrape()).get("outbox_backlog_rows") == 0 and m, what="backlog 0"
        )
    assert metrics["outbox_relay_active"] == 1
    assert metrics["outbox_oldest_unpublished_age_seconds"] == 0
    assert metrics["outbox_batch_duration_seconds_count"] >= 1


def test_one_active_relay_and_a_standby_takes_over(dsn: str, redis_url: str, queue: str) -> None:
    with running_relay(_config(dsn, redis_url, queue, poll_interval=0.1)) as first:
        wait_for(lambda: first.is_leader, what="first relay active")
        with running_relay(_config(dsn, redis_url, queue, poll_interval=0.1)) as second:
            with psycopg.connect(dsn) as conn:
                _record(conn, "s")
            wait_for(lambda: len(redis_envelopes(redis_url, queue)) == 1, what="delivery")
            assert not second.is_leader
            first.stop()
            wait_for(lambda: second.is_leader, timeout=10, what="the standby taking over")
            with psycopg.connect(dsn) as conn:
                _record(conn, "s")
            wait_for(
                lambda: len(redis_envelopes(redis_url, queue)) == 2, what="delivery by the standby"
            )
    assert _pairs(redis_envelopes(redis_url, queue)) == [("s", 1), ("s", 2)]


def _relay_process(dsn: str, redis_url: str, queue: str, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "outbox", "relay", "--dsn", dsn, "--broker", redis_url,
           "--task", "outbox.test.apply", "--queue", queue, "--batch-size", "500",
           "--poll-interval", "0.2", "--log-level", "WARNING", *extra]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("how", ["self-kill after sends, before commit", "external SIGKILL"])
def test_relay_killed_mid_batch_loses_nothing(
    dsn: str, redis_url: str, queue: str, how: str
) -> None:
    total = 3000
    with psycopg.connect(dsn) as conn:
        record_events(
            conn.cursor(), [NewEvent("product", str(i % 40), "E", {"i": i}) for i in range(total)]
        )
    if how.startswith("self"):
        proc = _relay_process(dsn, redis_url, queue, "--chaos-kill-after-sends", "350")
        proc.communicate(timeout=60)
    else:
        proc = _relay_process(dsn, redis_url, queue)
        wait_for(lambda: redis_envelopes(redis_url, queue), what="the first sends")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    sent_before = len(redis_envelopes(redis_url, queue))
    marked_before = query(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")[0][0]
    assert sent_before > marked_before or how.startswith("external")  # sent, never marked
    restarted = _relay_process(dsn, redis_url, queue)
    try:
        wait_for(lambda: query(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == [(0,)],
                 timeout=60, what="the restarted relay draining the outbox")  # fmt: skip
    finally:
        restarted.send_signal(signal.SIGTERM)
        _, err = restarted.communicate(timeout=30)
    assert restarted.returncode == 0, err.decode(errors="replace")
    envelopes = redis_envelopes(redis_url, queue)
    ids = [e["event_id"] for e in envelopes]
    assert len(set(ids)) == total  # nothing lost
    # What an inbox does: drop duplicates; what is left is each aggregate in version order.
    seen: set[str] = set()
    applied: dict[str, list[int]] = defaultdict(list)
    for e in envelopes:
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            applied[e["aggregate_id"]].append(e["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in applied.values())
