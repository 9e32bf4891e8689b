"""Outbox benchmark: relay drain rate, commit-to-applied lag, and memory at 10k vs 100k.

    make bench-outbox                      # = uv run python bench/outbox_bench.py
    uv run python bench/outbox_bench.py --events 10000,100000 --rate 1000 --duration 20

(a) drain: N events pre-loaded, then ``python -m outbox relay`` to a real Redis; the rate
    is N / (last published_at - first published_at). Then a real Celery worker applies
    them (inbox insert + an upsert), for its rate and peak RSS.
(b) lag: ``--producers`` connections (4) commit one event per transaction on a fixed
    schedule (open loop: a late commit does not push the next one back); the relay and
    real Celery workers (one per lane, ``-P solo``) apply them; lag = inbox.applied_at -
    outbox.created_at, both ``clock_timestamp()`` just before their commits (the
    consumer's side is stamped at its inbox insert, so a batch's own handler time, a
    few ms, is not counted). Run twice in the same run: one event per task
    (``--batch 1``, the baseline) and batched (``--batch``, default 100:
    outbox.batching). A rate the producers could not hold is flagged; so is the
    machine's load average (it is shared), which the bench's own processes raise to ~2-3.
    ``--stock-transport`` runs the workers on kombu's own Redis transport, for comparison
    with ``outbox.redis_transport``.
(c) peak RSS (VmHWM) of the relay and of the worker for each N: must not grow with N.

PostgreSQL and Redis are embedded unless DATABASE_URL / REDIS_URL are set. The last line
is ``relay events/s: N, lag p99 ms: M`` (N from the largest drain).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROLE = os.environ.get("OUTBOX_BENCH_ROLE")

if ROLE == "worker":
    # Imported by `celery -A outbox_bench worker`: the consumer under test.
    from celery import Celery
    from outbox.inbox import Consumer, configure_celery, make_consumer_task

    BATCH = int(os.environ.get("OUTBOX_BENCH_BATCH", "1"))
    app = Celery("outbox_bench", broker=os.environ["OUTBOX_BENCH_BROKER"])
    # --stock-transport: kombu's own Redis transport, not outbox.redis_transport (before/after).
    app.conf.broker_transport = os.environ.get("OUTBOX_BENCH_TRANSPORT") or None
    configure_celery(app, batch_size=BATCH)

    def _apply(cursor: Any, envelope: Any) -> None:
        cursor.execute(
            "INSERT INTO bench_product (id, version, payload) VALUES (%s, %s, %s::jsonb) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, payload = excluded.payload",
            (envelope["aggregate_id"], envelope["version"], '{"applied": true}'),
        )

    consumer = Consumer("bench", _apply, dsn=os.environ["OUTBOX_BENCH_DSN"])
    task = make_consumer_task(app, "bench.apply", consumer, batch_size=BATCH)


STOCK_TRANSPORT = False  # --stock-transport


def _pg(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql.encode() if params is None else sql, params)
        return cur.fetchall() if cur.description else []


def _peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def _servers() -> Iterator[tuple[str, str]]:
    """A fresh ``bench_outbox`` database (common.bench_postgres) and a Redis URL."""
    sys.path.insert(0, str(HERE))
    from common import bench_postgres

    from outbox import schema

    with bench_postgres("outbox") as urls, contextlib.ExitStack() as stack:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            from strangler.embedded import EmbeddedRedis, free_port

            rd = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="outbox-bench-redis-")), free_port())
            rd.start()
            stack.callback(rd.stop)
            redis_url = rd.url
        dsn = urls["outbox"]
        _pg(dsn, schema.ddl())
        _pg(dsn, "CREATE TABLE bench_product (id text PRIMARY KEY, version bigint, payload jsonb)")
        yield dsn, redis_url


def _reset(dsn: str, redis_url: str, queues: list[str]) -> None:
    import redis

    _pg(dsn, "TRUNCATE outbox, outbox_aggregate_version, inbox, inbox_applied_version, "
             "inbox_deliveries, parked_events, bench_product")  # fmt: skip
    _pg(dsn, "VACUUM ANALYZE")
    client = redis.Redis.from_url(redis_url)
    client.delete(*queues)
    client.close()


def _env(dsn: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OUTBOX_BENCH_DSN=dsn,
        OUTBOX_BENCH_BROKER=redis_url,
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
    )
    return env


@contextlib.contextmanager
def _relay(
    dsn: str, redis_url: str, queue: str, lanes: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "outbox", "relay", "--dsn", dsn, "--broker", redis_url,
           "--task", "bench.apply", "--queue", queue, "--lanes", str(lanes),
           "--batch-size", "1000", "--log-level", "WARNING"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=_env(dsn, redis_url))
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def _worker(
    dsn: str, redis_url: str, queue: str, batch: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "celery", "-A", "outbox_bench", "worker", "-Q", queue,
           "-P", "solo", "-n", f"bench-{queue}@%h", "--without-gossip", "--without-mingle",
           "--without-heartbeat", "--loglevel=WARNING"]  # fmt: skip
    env = _env(dsn, redis_url) | {"OUTBOX_BENCH_ROLE": "worker", "OUTBOX_BENCH_BATCH": str(batch)}
    if STOCK_TRANSPORT:
        env["OUTBOX_BENCH_TRANSPORT"] = "redis"
    proc = subprocess.Popen(cmd, env=env, cwd=HERE, stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _preload(dsn: str, n: int, aggregates: int) -> None:
    import psycopg
    from outbox.writer import NewEvent, record_events

    payload = {"sku": "SKU-0000", "name": "A product name of ordinary length", "price": 1999,
               "currency": "EUR", "stock": 7}  # fmt: skip
    with psycopg.connect(dsn) as conn:
        for start in range(0, n, 5000):
            events = [NewEvent("product", str(i % aggregates), "ProductChanged", payload)
                      for i in range(start, min(n, start + 5000))]  # fmt: skip
            record_events(conn.cursor(), events)
            conn.commit()


def drain(dsn: str, redis_url: str, n: int, batch: int) -> dict[str, float]:
    queue = "bench-drain"
    _reset(dsn, redis_url, [queue])
    _preload(dsn, n, aggregates=1000)
    _pg(dsn, "VACUUM ANALYZE outbox")
    with _relay(dsn, redis_url, queue) as relay:
        _wait(lambda: _pg(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0] == 0,
              timeout=600, what="the drain")  # fmt: skip
        relay_rss = _peak_rss_mb(relay.pid)
    first, last = _pg(dsn, "SELECT min(published_at), max(published_at) FROM outbox")[0]
    relay_rate = n / max((last - first).total_seconds(), 1e-6)
    with _worker(dsn, redis_url, queue, batch) as worker:
        _wait(lambda: _pg(dsn, "SELECT count(*) FROM inbox")[0][0] >= n, 1800, "the worker")
        worker_rss = _peak_rss_mb(worker.pid)
    first, last = _pg(dsn, "SELECT min(applied_at), max(applied_at) FROM inbox")[0]
    worker_rate = n / max((last - first).total_seconds(), 1e-6)
    return {"relay_rate": relay_rate, "relay_rss": relay_rss, "worker_rate": worker_rate,
            "worker_rss": worker_rss}  # fmt: skip


def _produce(dsn: str, total: int, rate: float, producers: int) -> float:
    """Commit ``total`` events, one per transaction, on a fixed schedule; the rate achieved.

    Open loop, like the monolith's many request workers: event i is due at ``i / rate``
    whatever happened to the others, on one of ``producers`` connections. One connection
    could not hold 1,000 commits/s on this 2-core machine once the relay and the workers
    competed for it (each commit waits for a CPU at every round trip): it fell to 550-980/s
    depending on the lanes, so the lag compared was at different loads. Each event is one
    statement in autocommit mode: its own transaction, one round trip.
    """
    import psycopg
    from outbox.writer import record_event

    rng = random.Random(7)
    aggregates = [str(rng.randrange(1000)) for _ in range(total)]
    start = time.perf_counter() + 0.05

    def run(first: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            cur = conn.cursor()
            for i in range(first, total, producers):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # pacing the producer, not synchronisation
                record_event(cur, aggregate_type="product", aggregate_id=aggregates[i],
                             event_type="PriceChanged", payload={"price": i})  # fmt: skip

    threads = [threading.Thread(target=run, args=(k,)) for k in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total / (time.perf_counter() - start)


def lag(
    dsn: str,
    redis_url: str,
    rate: float,
    duration: float,
    lanes: int,
    batch: int,
    producers: int = 4,
) -> dict[str, float]:
    import psycopg
    from outbox.routing import Route
    from outbox.writer import record_event

    route = Route("bench.apply", "bench-lag", lanes=lanes)
    _reset(dsn, redis_url, route.queues())
    total = int(rate * duration)
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(_worker(dsn, redis_url, q, batch)) for q in route.queues()]
        stack.enter_context(_relay(dsn, redis_url, "bench-lag", lanes=lanes))
        # Warm-up: every worker has applied an event before the clock starts.
        with psycopg.connect(dsn, autocommit=True) as conn:
            for i in range(200):
                with conn.transaction():
                    record_event(conn.cursor(), aggregate_type="warmup", aggregate_id=str(i),
                                 event_type="Warmup", payload={})  # fmt: skip
        _wait(lambda: _pg(dsn, "SELECT count(*) FROM inbox")[0][0] >= 200, 120, "warm-up")
        achieved = _produce(dsn, total, rate, producers)
        # The machine is shared: a busy neighbour shows here rather than as a slow consumer.
        load = os.getloadavg()[0]
        _wait(lambda: _pg(dsn, "SELECT count(*) FROM inbox")[0][0] >= total + 200, timeout=300,
              what="every event applied")  # fmt: skip
        worker_rss = max(_peak_rss_mb(w.pid) for w in workers)
    p50, p99, worst = _pg(
        dsn,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY l), max(l) FROM ("
        "  SELECT extract(epoch FROM applied_at - created_at) * 1000 AS l"
        "  FROM inbox WHERE aggregate_type = 'product') AS lags",
    )[0]
    relay_p50, relay_p99 = _pg(
        dsn,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY l) FROM ("
        "  SELECT extract(epoch FROM published_at - created_at) * 1000 AS l"
        "  FROM outbox WHERE aggregate_type = 'product') AS lags",
    )[0]
    return {"p50": float(p50), "p99": float(p99), "max": float(worst), "achieved": achieved,
            "relay_p50": float(relay_p50), "relay_p99": float(relay_p99),
            "events": total, "worker_rss": worker_rss, "load": load}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", default="10000,100000", help="drain sizes, comma-separated")
    parser.add_argument("--rate", type=float, default=1000.0, help="changes/s for the lag run")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of steady load")
    parser.add_argument("--lanes", type=int, default=2, help="lane queues (one worker each)")
    parser.add_argument(
        "--batch", type=int, default=100, help="consumer batch size (the lag run adds 1)"
    )
    parser.add_argument(
        "--producers", type=int, default=4, help="connections committing the lag run's load"
    )
    parser.add_argument(
        "--stock-transport",
        action="store_true",
        help="workers on kombu's own Redis transport instead of outbox.redis_transport",
    )
    args = parser.parse_args()
    global STOCK_TRANSPORT
    STOCK_TRANSPORT = args.stock_transport
    sizes = [int(s) for s in args.events.split(",") if s]

    with _servers() as (dsn, redis_url):
        print(f"» PostgreSQL {dsn.rsplit('@', 1)[-1]}, Redis {redis_url.rsplit('@', 1)[-1]}",
              flush=True)  # fmt: skip
        drains = {}
        for n in sizes:
            d = drains[n] = drain(dsn, redis_url, n, args.batch)
            print(f"drain {n:>7,} events: relay {d['relay_rate']:>8,.0f} events/s "
                  f"(peak RSS {d['relay_rss']:.0f} MB); worker {d['worker_rate']:>6,.0f} events/s "
                  f"(peak RSS {d['worker_rss']:.0f} MB)", flush=True)  # fmt: skip
        if len(sizes) > 1:
            lo, hi = drains[min(sizes)], drains[max(sizes)]
            print(f"peak RSS {min(sizes):,} -> {max(sizes):,} events: relay "
                  f"{lo['relay_rss']:.0f} -> {hi['relay_rss']:.0f} MB, worker "
                  f"{lo['worker_rss']:.0f} -> {hi['worker_rss']:.0f} MB", flush=True)  # fmt: skip
        # The consumer one event per task (the baseline) and batched, same run.
        for batch in sorted({1, args.batch}):
            result = lag(
                dsn, redis_url, args.rate, args.duration, args.lanes, batch, args.producers
            )
            print(f"lag at {result['achieved']:,.0f} changes/s for {args.duration:.0f}s "
                  f"({result['events']:,} events, {args.lanes} lanes, batch {batch}): "
                  f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
                  f"max {result['max']:.1f} ms; commit-to-published "
                  f"p50 {result['relay_p50']:.1f} ms, p99 {result['relay_p99']:.1f} ms "
                  f"(1-min load average {result['load']:.1f} on {os.cpu_count()} cores)",
                  flush=True)  # fmt: skip
            if result["achieved"] < 0.95 * args.rate:
                print(f"WARNING: the load generator fell behind ({result['achieved']:,.0f} of "
                      f"{args.rate:,.0f} changes/s): this lag is not at the rate asked for",
                      flush=True)  # fmt: skip
    relay_rate = drains[max(sizes)]["relay_rate"]
    print(f"relay events/s: {relay_rate:.0f}, lag p99 ms: {result['p99']:.0f}")


if __name__ == "__main__":
    main()
