"""outbox.redis_transport against a real Redis: fewer round trips, kombu's guarantees.

What a dead worker's messages come back from is the unacked hash and index; these tests
check that the bulk fetch writes exactly the entries stock kombu writes (so stock
kombu restores them), that batched acks remove them only when sent, and that a real
batching worker leaves none of its queue's behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import redis
from celery import Celery
from kombu import Connection, Queue
from kombu.utils.json import loads
from outbox_testlib import applied, celery_worker, query, running_relay, wait_for

from outbox.inbox import configure_celery
from outbox.redis_transport import Transport
from outbox.relay import RelayConfig
from outbox.routing import Route, Router
from outbox.writer import NewEvent, record_events

TASK = "outbox.test.apply"


def _ours(redis_url: str, queue: str) -> dict[str, Any]:
    """This queue's entries in kombu's unacked hash (other tests share the database)."""
    client = redis.Redis.from_url(redis_url)
    try:
        entries = {k.decode(): loads(v) for k, v in client.hgetall("unacked").items()}
        index = {k.decode() for k in client.zrange("unacked_index", 0, -1)}
    finally:
        client.close()
    return {tag: e for tag, e in entries.items() if e[2] == queue and tag in index}


def _queue_length(redis_url: str, queue: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


@contextmanager
def _consuming(redis_url: str, queue: str, prefetch: int) -> Iterator[tuple[Any, list[Any]]]:
    """A kombu consumer on our transport; yields (its channel, the messages received)."""
    received: list[Any] = []
    with Connection(redis_url, transport=Transport) as conn:
        channel = conn.channel()
        consumer = conn.Consumer(
            Queue(queue, routing_key=queue), channel=channel,
            callbacks=[lambda body, message: received.append(message)],
            prefetch_count=prefetch,
        )  # fmt: skip
        with consumer:
            yield channel, received


def _publish(redis_url: str, queue: str, n: int) -> None:
    with Connection(redis_url) as conn:  # stock kombu on the sending side
        producer = conn.Producer()
        for i in range(n):
            producer.publish({"i": i}, routing_key=queue, declare=[Queue(queue, routing_key=queue)])


def test_one_wake_up_fetches_the_prefetch_window_with_kombus_unacked_entries(
    redis_url: str,
) -> None:
    queue = f"rt-{uuid.uuid4().hex[:8]}"
    _publish(redis_url, queue, 12)
    with _consuming(redis_url, queue, prefetch=10) as (channel, received):
        channel.connection.client.drain_events(timeout=5)
        # One BRPOP, then the rest of the window in one script: 10, not 1, and in order.
        assert [m.payload["i"] for m in received] == list(range(10))
        assert _queue_length(redis_url, queue) == 2
        entries = _ours(redis_url, queue)
        assert set(entries) == {m.delivery_tag for m in received}
        for message in received:  # exactly what kombu's QoS.append stores
            raw, exchange, routing_key = entries[message.delivery_tag]
            assert raw["properties"]["delivery_tag"] == message.delivery_tag
            assert (exchange, routing_key) == (
                message.delivery_info["exchange"],
                message.delivery_info["routing_key"],
            )
        # A worker dies here. Stock kombu restores its messages from those entries (by
        # tag: a visibility sweep would also restore other tests' in-flight messages).
        channel.qos._delivered.clear()
    with Connection(redis_url) as stock:
        for tag in entries:
            stock.channel().qos.restore_by_tag(tag)
    assert _ours(redis_url, queue) == {}
    assert _queue_length(redis_url, queue) == 12
    with _consuming(redis_url, queue, prefetch=20) as (channel, received):
        while len(received) < 12:
            channel.connection.client.drain_events(timeout=5)
        assert sorted(m.payload["i"] for m in received) == list(range(12))
        for message in received:
            message.ack()
        assert _ours(redis_url, queue) == {}


def test_batched_acks_leave_the_unacked_copies_until_they_are_sent(redis_url: str) -> None:
    queue = f"rt-{uuid.uuid4().hex[:8]}"
    _publish(redis_url, queue, 5)
    with _consuming(redis_url, queue, prefetch=5) as (channel, received):
        channel.connection.client.drain_events(timeout=5)
        assert len(received) == 5
        with channel.qos.batched_acks():
            for message in received:
                message.ack()
            assert len(_ours(redis_url, queue)) == 5  # not sent yet: a crash redelivers
        assert _ours(redis_url, queue) == {}
        assert channel.qos.can_consume()


def test_prefetch_one_fetches_one(redis_url: str) -> None:
    """A plain one-event-per-task worker (prefetch 1) holds one message, as before."""
    queue = f"rt-{uuid.uuid4().hex[:8]}"
    _publish(redis_url, queue, 3)
    with _consuming(redis_url, queue, prefetch=1) as (channel, received):
        channel.connection.client.drain_events(timeout=5)
        assert len(received) == 1
        assert _queue_length(redis_url, queue) == 2
        received[0].ack()
        assert _ours(redis_url, queue) == {}


def test_configure_celery_picks_the_transport_for_redis_only(redis_url: str) -> None:
    assert configure_celery(Celery(broker=redis_url)).conf.broker_transport == (
        "outbox.redis_transport:Transport"
    )
    assert not configure_celery(Celery(broker="amqp://guest@localhost//")).conf.broker_transport
    chosen = Celery(broker=redis_url)
    chosen.conf.broker_transport = "redis"
    assert configure_celery(chosen).conf.broker_transport == "redis"


@pytest.mark.parametrize("batch", ["1", "50"])
def test_a_worker_acknowledges_everything_it_applied(
    dsn: str, redis_url: str, queue: str, batch: str
) -> None:
    with psycopg.connect(dsn) as conn:
        record_events(conn.cursor(), [NewEvent("product", str(i % 5), "E", {}) for i in range(200)])
    config = RelayConfig(dsn=dsn, broker_url=redis_url, poll_interval=0.2,
                         router=Router(default=Route(TASK, queue)))  # fmt: skip
    pool = "solo" if batch != "1" else "prefork"
    with (
        celery_worker(redis_url, dsn, [queue], pool=pool, OUTBOX_TEST_BATCH=batch),
        running_relay(config),
    ):
        wait_for(lambda: query(dsn, "SELECT count(*) FROM inbox") == [(200,)], timeout=60,
                 what="200 events claimed")  # fmt: skip
        # The acks follow the commits: none of this queue's messages stays unacknowledged.
        wait_for(lambda: _ours(redis_url, queue) == {}, timeout=30, what="every ack sent")
        assert _queue_length(redis_url, queue) == 0
    assert len(applied(dsn)) == len(set(applied(dsn)))
