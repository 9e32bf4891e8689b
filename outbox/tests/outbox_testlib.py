"""Helpers for the outbox tests (fixtures live in conftest.py): a scratch database per test, the real Redis and RabbitMQ, relays and workers.

DATABASE_URL / REDIS_URL come from the root plugin (embedded servers when unset).
RabbitMQ is expected at OUTBOX_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672//);
if it is unreachable the RabbitMQ tests FAIL, unless STRANGLER_NO_RABBITMQ=1 (then skip).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
import pytest
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from outbox import schema
from outbox.relay import Relay, RelayConfig

HERE = Path(__file__).resolve().parent
AMQP_URL = os.environ.get("OUTBOX_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

APPLIED_LOG = """
CREATE TABLE applied_log (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    version bigint NOT NULL,
    pid integer NOT NULL
);
"""


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until truthy; fail after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def dsn() -> Iterator[str]:
    """A fresh database with the outbox + inbox schema and an ``applied_log`` table."""
    base = os.environ["DATABASE_URL"]
    name = f"outbox_t_{uuid.uuid4().hex[:12]}"
    admin = make_conninfo(base, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(base, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(schema.ddl().encode())
        conn.execute(APPLIED_LOG.encode())
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    return os.environ["REDIS_URL"]


def rabbitmq_url() -> str:
    if os.environ.get("STRANGLER_NO_RABBITMQ") == "1":
        pytest.skip("STRANGLER_NO_RABBITMQ=1: RabbitMQ tests skipped on purpose")
    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 5672), timeout=3
        ):
            pass
    except OSError as exc:
        pytest.fail(
            f"RabbitMQ is not reachable at {AMQP_URL} ({exc}). Start it, point "
            "OUTBOX_TEST_AMQP_URL at one, or set STRANGLER_NO_RABBITMQ=1 to skip these tests."
        )
    return AMQP_URL


@pytest.fixture(params=["redis", "rabbitmq"], ids=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return os.environ["REDIS_URL"]
    return rabbitmq_url()


@pytest.fixture
def queue() -> Iterator[str]:
    name = f"outbox-test-{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(Exception):
        r = redis.Redis.from_url(os.environ["REDIS_URL"])
        r.delete(name, *[f"{name}.{i}" for i in range(8)])
        r.close()


def redis_envelopes(url: str, queue: str) -> list[dict[str, Any]]:
    """The envelopes waiting in a Redis queue, oldest first (kombu's message format)."""
    import base64

    client = redis.Redis.from_url(url)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    result = []
    for item in reversed(raw):  # LPUSH + BRPOP: the right end is the oldest
        message = orjson.loads(item)
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = orjson.loads(body)
        result.append(args[0])
    return result


@contextlib.contextmanager
def running_relay(config: RelayConfig) -> Iterator[Relay]:
    relay = Relay(config)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            relay.run()
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="relay", daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.stop()
        thread.join(timeout=15)
        assert not thread.is_alive(), "relay did not stop within 15 s"
        if errors:
            raise errors[0]


def worker_env(broker: str, dsn: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
        OUTBOX_TEST_BROKER=broker,
        OUTBOX_TEST_DSN=dsn,
        **extra,
    )
    return env


@contextlib.contextmanager
def celery_worker(
    broker: str, dsn: str, queues: list[str], *, pool: str = "prefork", **extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker (``celery -A consumer_app worker``) in its own process group."""
    log = HERE / f".worker-{uuid.uuid4().hex[:8]}.log"
    cmd = [
        sys.executable, "-m", "celery", "-A", "consumer_app", "worker",
        "-Q", ",".join(queues), "-c", "1", "-P", pool, "-n", f"w{uuid.uuid4().hex[:8]}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=worker_env(broker, dsn, **extra), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=HERE,
        )  # fmt: skip
    try:
        yield proc
    except BaseException:
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        raise
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.unlink(missing_ok=True)


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql.encode() if params is None else sql, params).fetchall()


def applied(dsn: str, consumer: str = "test") -> list[tuple[str, int]]:
    return [
        (r[0], int(r[1]))
        for r in query(
            dsn,
            "SELECT aggregate_id, version FROM applied_log WHERE consumer = %s ORDER BY seq",
            (consumer,),
        )
    ]


def dbname(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["dbname"])
