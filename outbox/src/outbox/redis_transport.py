"""kombu's Redis transport with fewer round trips per message, same guarantees.

Measured (``bench/outbox_bench.py`` under py-spy, one ``-P solo`` batching worker): with
the stock transport ~70 % of the worker's time went to per-message Redis work, not to
applying events. Each delivered message cost a BRPOP, then a MULTI/ZADD/HSET/EXEC (the
"unacked" copy that a dead worker's message is restored from), then at the ack a
MULTI/ZREM/HDEL/EXEC; the last two each built a new ``redis.Redis`` client
(``Channel.conn_or_acquire``), whose constructor alone was ~20 % of the profile. The
worker drained ~1,100 events/s; with this transport ~4,700.

What changes is only how those commands travel:

- one synchronous client per connection pool, reused (the pool holds the sockets; the
  stock code wraps a new client around the same pool every time);
- **bulk fetch**: after BRPOP wakes on a message, one Lua script moves up to as many more
  as the prefetch window admits from that queue into the unacked hash and index, with
  the very entries the stock ``QoS.append`` writes, atomically: a message is never out
  of the queue without its unacked copy (stock kombu has that window for one message
  per delivery, between the BRPOP reply and the append). Prefetch 1 fetches one;
- **acks in one round trip**: in a worker's event loop (Celery defers every ack to a loop
  callback) the acks of one loop iteration are collected and sent together before the
  loop polls again; outside it, inside ``QoS.batched_acks()``. An ack is only ever a
  little later than stock, never earlier: a worker killed in between leaves the messages
  unacked, they are restored after the visibility timeout and the inbox absorbs them.

Visibility timeout, restore, priorities and fanout are kombu's own code.
``configure_celery`` selects this transport for ``redis://`` brokers unless
``broker_transport`` is set (``rediss://`` and ``sentinel://`` keep kombu's);
``broker_transport_options={"outbox_bulk_fetch": False}`` turns the bulk fetch off.
"""

# kombu is untyped: calls into it are unchecked here, as everywhere else.
# mypy: disallow-untyped-calls=False

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty
from time import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

log = logging.getLogger("outbox.redis_transport")

# KEYS: the unacked index (zset), the unacked hash, then the queue's lists in priority
# order. ARGV: the time stamp, then how many to move. Returns the moved payloads in
# delivery order. The unacked hash value is the one kombu's QoS.append writes:
# [raw message, exchange, routing key] as JSON (the raw payload spliced in as is).
_FETCH = """
local moved = {}
local want = tonumber(ARGV[2])
for k = 3, #KEYS do
    while #moved < want do
        local raw = redis.call('RPOP', KEYS[k])
        if not raw then break end
        local m = cjson.decode(raw)
        local props = m['properties'] or {}
        local info = props['delivery_info'] or {}
        local tag = props['delivery_tag']
        if tag then
            redis.call('ZADD', KEYS[1], ARGV[1], tag)
            redis.call('HSET', KEYS[2], tag, '[' .. raw .. ',' ..
                cjson.encode(info['exchange'] or '') .. ',' ..
                cjson.encode(info['routing_key'] or '') .. ']')
        end
        moved[#moved + 1] = raw
    end
end
return moved
"""

# How many messages one fetch moves at most, whatever the prefetch window.
MAX_FETCH = 200


class QoS(kombu_redis.QoS):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending_acks: list[str] = []
        self._batching = 0  # depth of batched_acks() blocks
        self._appended: set[str] = set()  # tags the fetch script already wrote

    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag in self._appended:
            self._appended.discard(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)
            return
        super().append(message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        if self._batching or getattr(self.channel.connection, "defers_acks", False):
            self._pending_acks.append(delivery_tag)
            return
        super().ack(delivery_tag)

    def flush_acks(self) -> None:
        """Send the collected acks: one round trip, whatever their number."""
        if not self._pending_acks:
            return
        pending, self._pending_acks = self._pending_acks, []
        with self.pipe_or_acquire() as pipe:
            pipe.zrem(self.unacked_index_key, *pending).hdel(self.unacked_key, *pending).execute()
        for tag in pending:
            virtual.QoS.ack(self, tag)

    @contextmanager
    def batched_acks(self) -> Iterator[None]:
        """Acks made inside the block reach Redis in one round trip when it ends."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching:
                self.flush_acks()

    def restore_unacked(self, client: Any = None) -> None:
        # Acknowledged is acknowledged: not restored (and so redelivered) at shutdown.
        try:
            self.flush_acks()
        finally:
            super().restore_unacked(client)


class Channel(kombu_redis.Channel):
    QoS = QoS

    #: Move more messages per BRPOP wake-up (``broker_transport_options``).
    outbox_bulk_fetch = True
    from_transport_options = (  # type: ignore[assignment]
        *kombu_redis.Channel.from_transport_options,
        "outbox_bulk_fetch",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sync_client: Any = None
        self._fetch_script: Any = None
        super().__init__(*args, **kwargs)

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        # One client per pool, not one per call: the pool holds the sockets either way.
        pool = self.pool
        if self._sync_client is None or self._sync_client.connection_pool is not pool:
            self._sync_client = self._create_client()
        yield self._sync_client

    def _brpop_read(self, **options: Any) -> bool:
        # kombu's own, but for knowing the queue it delivered from (to fetch more there).
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            self.connection._deliver(loads(bytes_to_str(item)), dest)
        finally:
            self._in_poll = None  # type: ignore[assignment]
            self._flush_brpop_reauth()
        if self.outbox_bulk_fetch and not self.global_keyprefix and not self._closing:
            self._fetch_more(dest)
        return True

    def _fetch_more(self, queue: str) -> None:
        """Deliver up to the prefetch window's room more messages of ``queue`` at once."""
        if queue not in self._active_queues or not isinstance(self.qos, QoS):
            return
        room = self.qos.can_consume_max_estimate()
        want = MAX_FETCH if room is None else min(MAX_FETCH, int(room))
        if want <= 0:
            return
        keys = [self.unacked_index_key, self.unacked_key]
        keys += [self._q_for_pri(queue, pri) for pri in self.priority_steps]
        with self.conn_or_acquire() as client:
            if self._fetch_script is None:
                self._fetch_script = client.register_script(_FETCH)
            raws = self._fetch_script(keys=keys, args=[time(), want], client=client)
        for raw in raws or ():
            message = loads(bytes_to_str(raw))
            tag = (message.get("properties") or {}).get("delivery_tag")
            if tag:
                self.qos._appended.add(tag)
            self.connection._deliver(message, queue)


class Transport(kombu_redis.Transport):
    Channel = Channel

    #: In a worker's event loop (Celery's hub) acks are collected while the loop runs
    #: its callbacks (Celery defers each ack to one) and sent together before it polls.
    defers_acks = False

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        cycle: Any = self.cycle
        poll_start = type(cycle).on_poll_start.__get__(cycle)  # kombu's, never a wrapper

        def on_poll_start() -> None:
            for channel in list(cycle._channels):
                try:
                    channel.qos.flush_acks()
                except Exception:
                    # As kombu's own failed ack: logged, the messages stay unacknowledged
                    # (restored when the channel closes or after the visibility timeout).
                    log.exception("could not send %s's acks", channel)
            poll_start()

        cycle.on_poll_start = on_poll_start  # what kombu's loop hook calls, each tick
        self.defers_acks = True
        super().register_with_event_loop(connection, loop)
