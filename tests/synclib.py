"""Harness for the cross-component sync tests: the monolith (Django, pytest-django's test
database), a scratch catalog database, and the real relay and catalog consumer worker as
subprocesses (so they can be SIGKILLed), on Redis or RabbitMQ."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

REPO = Path(__file__).resolve().parents[1]
TASK = "catalog.apply"


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def shop_dsn() -> str:
    from django.db import connection

    name = connection.settings_dict["NAME"]
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def scalar(dsn: str, sql: str, params: Any = None) -> Any:
    return query(dsn, sql, params)[0][0]


class Process:
    """A subprocess in its own process group, restartable, killable with SIGKILL."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name, self.command, self.env = name, command, env
        self.log = Path(tempfile.mkstemp(prefix=f"sync-{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=REPO,
            )  # fmt: skip

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class SyncStack:
    def __init__(self, shop: str, catalog: str, broker: str, *, queue: str, **env: str) -> None:
        self.shop, self.catalog, self.broker, self.queue = shop, catalog, broker, queue
        base = dict(os.environ)
        base.update(
            CATALOG_DATABASE_URL=catalog, CATALOG_BROKER_URL=broker, CATALOG_SYNC_AUDIT="true",
            CATALOG_SYNC_MAX_ATTEMPTS="3", CATALOG_SYNC_BACKOFF_BASE="0.05",
            CATALOG_SYNC_VISIBILITY_TIMEOUT="5", CATALOG_ATTRS_POLICY="legacy",
            PYTHONUNBUFFERED="1",
        )  # fmt: skip
        base.update(env)
        self.env = base
        self.relay = Process(
            "relay",
            [sys.executable, "-m", "outbox", "relay", "--dsn", shop, "--broker", broker,
             "--task", TASK, "--queue", queue, "--poll-interval", "0.2"],
            base,
        )  # fmt: skip
        self.worker = Process(
            "worker",
            [sys.executable, "-m", "celery", "-A", "catalog_service.entrypoints.consumer",
             "worker", "-Q", queue, "-P", "solo",
             "-n", f"t{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel=INFO"],
            base,
        )  # fmt: skip

    def start(self) -> None:
        self.relay.start()
        self.worker.start()

    def stop(self) -> None:
        self.relay.stop()
        self.worker.stop()
        for p in (self.relay, self.worker):
            p.log.unlink(missing_ok=True)

    def logs(self) -> str:
        return f"--- relay\n{self.relay.tail()}\n--- worker\n{self.worker.tail()}"

    # -- conditions ------------------------------------------------------------------

    def outbox_events(self) -> int:
        return int(scalar(self.shop, "SELECT count(*) FROM outbox"))

    def handled(self) -> int:
        """Events the consumer has handled (applied or skipped as stale) or parked."""
        return int(
            scalar(
                self.catalog,
                "SELECT (SELECT count(*) FROM inbox WHERE consumer = 'catalog.sync')"
                " + (SELECT count(*) FROM parked_events)",
            )
        )

    def wait_synced(self, timeout: float) -> None:
        try:
            wait_for(
                lambda: self.handled() >= self.outbox_events(),
                timeout=timeout, what="the consumer to handle every outbox event",
            )  # fmt: skip
        except AssertionError:
            sys.stderr.write(self.logs())
            raise

    def converged(self) -> bool:
        """Every event published, and every aggregate at its latest outbox version."""
        if scalar(self.shop, "SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            return False
        latest = dict(query(self.shop, "SELECT aggregate_type || ':' || aggregate_id, version"
                                       " FROM outbox_aggregate_version"))  # fmt: skip
        stored = dict(query(self.catalog,
            "SELECT 'catalog.product:' || legacy_id, version FROM products UNION ALL"
            " SELECT 'catalog.category:' || legacy_id, version FROM categories"))  # fmt: skip
        return latest == stored

    def service_price(self, legacy_id: int) -> int | None:
        rows = query(self.catalog, "SELECT price_minor FROM products WHERE legacy_id = %s",
                     (legacy_id,))  # fmt: skip
        return int(rows[0][0]) if rows else None


def reset_outbox(shop: str) -> None:
    """pytest-django flushes model tables only: start each test with an empty outbox."""
    with psycopg.connect(shop, autocommit=True) as conn:
        conn.execute("TRUNCATE outbox, outbox_aggregate_version")


@contextlib.contextmanager
def sync_stack(shop: str, catalog: str, broker: str, **env: str) -> Iterator[SyncStack]:
    stack = SyncStack(shop, catalog, broker, queue=f"catalog-test-{uuid.uuid4().hex[:8]}", **env)
    stack.start()
    try:
        yield stack
    except BaseException:
        sys.stderr.write(stack.logs())
        raise
    finally:
        stack.stop()
        if broker.startswith("redis"):
            import redis

            with contextlib.suppress(Exception):
                client = redis.Redis.from_url(broker)
                client.delete(stack.queue)
                client.close()
