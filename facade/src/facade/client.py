"""The hot-path HTTP/1.1 client: asyncio protocol + httptools parser, keep-alive pools.

Bytes are forwarded as they come: no decompression, no re-encoding, headers in the
upstream's own spelling. The benchmark (bench/facade_bench.py) compares it with the
aiohttp client in ``facade.client_aiohttp``; ``FACADE_HTTP_CLIENT`` picks one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, cast

import httptools

from facade.errors import ConnectFailed, UpstreamDisconnected, UpstreamTimeout
from facade.types import RawHeaders

_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    netloc: str
    """host[:port] as configured: the Host header when the client's is not preserved."""
    _hash: int = field(init=False, repr=False, compare=False, default=0)
    host_header: bytes = field(init=False, repr=False, compare=False, default=b"")
    """``netloc`` encoded once: the Host header of every request that does not keep the
    client's."""

    def __post_init__(self) -> None:
        # The pool key of every request: hash the four fields once, not per lookup.
        object.__setattr__(self, "_hash", hash((self.scheme, self.host, self.port, self.netloc)))
        object.__setattr__(self, "host_header", self.netloc.encode())

    def __hash__(self) -> int:
        return self._hash

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"


@dataclass(slots=True)
class RequestBody:
    """A request body: ``data`` when buffered, else ``stream`` (``length`` None: chunked)."""

    data: bytes | None = b""
    stream: AsyncIterator[bytes] | None = None
    length: int | None = 0
    started: bool = False

    @property
    def replayable(self) -> bool:
        return self.data is not None or not self.started


class UpstreamResponse(Protocol):
    status: int
    headers: RawHeaders

    def complete_body(self) -> bytes | None:
        """The whole body when it already arrived with the headers, else None."""

    async def read_chunk(self) -> bytes:
        """The next body chunk; ``b""`` at the end."""

    def release(self) -> None:
        """Return the connection to the pool when the body was fully read, else close it."""


class HttpClient(Protocol):
    async def request(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: RawHeaders,
        body: RequestBody,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive_expiry: float,
    ) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


def _expire(fut: asyncio.Future[None], what: str) -> None:
    if not fut.done():
        fut.set_exception(UpstreamTimeout(what))


class _Deadlines:
    """The read timeouts of one loop's waits, behind a single timer.

    A timer per wait (``call_later`` + ``cancel``) costs more than the rest of a wait;
    here a wait is a dict entry, and one timer is armed for the earliest deadline. With
    one timeout for every wait (the usual case) a new wait never re-arms it: it expires
    later than the one already armed for. Expiry is as exact as with a timer per wait.
    """

    __slots__ = ("_at", "_handle", "_loop", "_waits")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waits: dict[asyncio.Future[None], tuple[float, str]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0

    def add(self, fut: asyncio.Future[None], timeout: float, what: str) -> None:
        deadline = self._loop.time() + timeout
        self._waits[fut] = (deadline, what)
        if self._handle is None or deadline < self._at:
            self._arm(deadline)

    def remove(self, fut: asyncio.Future[None]) -> None:
        del self._waits[fut]

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = deadline
        self._handle = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = None
        now = self._loop.time() + 0.001  # the loop's timers have a 1 ms resolution
        earliest: float | None = None
        due: list[tuple[asyncio.Future[None], str]] = []
        for fut, (deadline, what) in self._waits.items():
            if deadline <= now:
                due.append((fut, what))
            elif earliest is None or deadline < earliest:
                earliest = deadline
        for fut, what in due:
            _expire(fut, what)
        if earliest is not None:
            self._arm(earliest)


_deadlines: dict[asyncio.AbstractEventLoop, _Deadlines] = {}


def _deadlines_of(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    deadlines = _deadlines.get(loop)
    if deadlines is None:
        if len(_deadlines) > 16:  # loops of finished test runs
            for old in [old for old in _deadlines if old.is_closed()]:
                del _deadlines[old]
        deadlines = _deadlines[loop] = _Deadlines(loop)
    return deadlines


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines = _deadlines_of(loop)
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.lost = False
        self.reused = False
        self.idle_since = 0.0
        self.got_bytes = False
        self.status = 0
        self.headers: RawHeaders = []
        self.keep_alive = False
        self.headers_done = False
        self.complete = False
        self.error: BaseException | None = None
        self.chunks: deque[bytes] = deque()
        self._buffered = 0
        self._read_paused = False
        self._write_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._head_only = False
        self._eof_body = False
        self._interim = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.parser is not None and not self.complete and self.error is None:
            if self.headers_done and self._eof_body:
                self.complete = True
            else:
                self.error = UpstreamDisconnected(
                    "upstream closed the connection" + (f" ({exc})" if exc else "")
                )
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self.parser is None or self.complete:
            # Bytes nobody asked for: this connection cannot be trusted any more.
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = UpstreamDisconnected(f"invalid HTTP response from upstream: {exc}")
            self.close()
            self._wake()

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self._interim = True  # 100 Continue & co: not forwarded, wait for the final one
            self.headers = []
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        self.headers_done = True
        if self._head_only or status in (204, 304):
            self.complete = True
        else:
            framed = False
            for name, _ in self.headers:
                lname = name.lower()
                if lname in (b"content-length", b"transfer-encoding"):
                    framed = True
                    break
            self._eof_body = not framed
            if self._eof_body:
                self.keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._read_paused and self.transport:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self._wake()

    # -- used by the pool
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def start(self, head: bytes, head_only: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status, self.headers, self.keep_alive = 0, [], False
        self.headers_done = self.complete = self._eof_body = self._interim = False
        self.error = None
        self.got_bytes = False
        self.chunks.clear()
        self._buffered = 0
        self._head_only = head_only
        assert self.transport is not None
        self.transport.write(head)

    def write(self, data: bytes) -> None:
        if not self.lost and self.transport is not None:
            self.transport.write(data)

    async def drain(self, timeout: float) -> None:
        if not self._write_paused or self.lost:
            return
        fut = self.loop.create_future()
        self._drain = fut
        handle = self.loop.call_later(timeout, _expire, fut, "writing the request body")
        try:
            await fut
        finally:
            handle.cancel()
            self._drain = None

    async def _wait(self, timeout: float, what: str) -> None:
        fut = self.loop.create_future()
        self._waiter = fut
        deadlines = self.deadlines
        deadlines.add(fut, timeout, what)
        try:
            await fut
        finally:
            deadlines.remove(fut)
            self._waiter = None

    async def wait_headers(self, timeout: float) -> None:
        while not self.headers_done:
            if self.error is not None:
                raise self.error
            if self.lost:
                raise UpstreamDisconnected("upstream closed the connection")
            await self._wait(timeout, "waiting for the response headers")

    async def read_chunk(self, timeout: float) -> bytes:
        while not self.chunks:
            if self.complete:
                return b""
            if self.error is not None:
                raise self.error
            await self._wait(timeout, "reading the response body")
        chunk = self.chunks.popleft()
        self._buffered -= len(chunk)
        if self._read_paused and self._buffered < _LOW_WATER and self.transport:
            self._read_paused = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()


class _NativeResponse:
    __slots__ = ("_conn", "_key", "_pool", "_read_timeout", "headers", "status")

    def __init__(
        self, pool: NativeClient, key: Origin, conn: _Connection, read_timeout: float
    ) -> None:
        self._pool, self._key, self._conn = pool, key, conn
        self._read_timeout = read_timeout
        self.status = conn.status
        self.headers = conn.headers

    def complete_body(self) -> bytes | None:
        conn = self._conn
        if not conn.complete:
            return None
        body = b"".join(conn.chunks)
        conn.chunks.clear()
        return body

    async def read_chunk(self) -> bytes:
        return await self._conn.read_chunk(self._read_timeout)

    def release(self) -> None:
        conn = self._conn
        if conn.complete and not conn.chunks and conn.keep_alive and not conn.lost:
            self._pool.park(self._key, conn)
        else:
            conn.close()


_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class NativeClient:
    """Keep-alive connection pools, one LIFO stack of idle connections per origin."""

    def __init__(self, max_idle: int = 256) -> None:
        self.max_idle = max_idle
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def _connect(self, origin: Origin, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        sslctx = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            sslctx = self._ssl
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=sslctx,
                    server_hostname=origin.host if sslctx else None,
                )
        except TimeoutError:
            raise ConnectFailed(f"connect to {origin.url} timed out after {timeout}s") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {origin.url}: {exc.strerror or exc}") from None
        return conn

    def _take_idle(self, origin: Origin, expiry: float) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        while idle:
            conn = idle.pop()
            if conn.lost or conn.loop.time() - conn.idle_since > expiry:
                conn.close()
                continue
            conn.reused = True
            return conn
        return None

    def park(self, origin: Origin, conn: _Connection) -> None:
        idle = self._idle.get(origin)
        if idle is None:
            idle = self._idle[origin] = deque()
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.parser = None
        conn.idle_since = conn.loop.time()
        idle.append(conn)

    async def request(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: RawHeaders,
        body: RequestBody,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive_expiry: float,
    ) -> UpstreamResponse:
        parts = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        if body.data is None and body.length is None:
            parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(b"\r\n")
        head = b"".join(parts)
        for attempt in range(2):
            conn = self._take_idle(origin, keepalive_expiry)
            if conn is None:
                conn = await self._connect(origin, connect_timeout)
            try:
                if body.data is not None:
                    conn.start(head + body.data, method == "HEAD")
                else:
                    conn.start(head, method == "HEAD")
                    await self._stream_body(conn, body, read_timeout)
                await conn.wait_headers(read_timeout)
            except UpstreamDisconnected:
                conn.close()
                # A reused keep-alive connection the upstream had just closed: the request
                # never reached it. Retry once on a fresh connection when that is safe.
                if (
                    attempt == 0
                    and conn.reused
                    and not conn.got_bytes
                    and body.replayable
                    and method in _IDEMPOTENT
                ):
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            return _NativeResponse(self, origin, conn, read_timeout)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _stream_body(conn: _Connection, body: RequestBody, timeout: float) -> None:
        assert body.stream is not None
        body.started = True
        chunked = body.length is None
        async for chunk in body.stream:
            if conn.lost or conn.headers_done:
                conn.keep_alive = False  # the rest of the body is unsent: never reuse
                break  # the upstream answered (or left) early: stop sending
            conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            await conn.drain(timeout)
        else:
            if chunked:
                conn.write(b"0\r\n\r\n")

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
