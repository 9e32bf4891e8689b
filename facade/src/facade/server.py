"""A lean HTTP/1.1 front-end for the facade: an asyncio Protocol with the httptools parser.

It serves any ASGI 3 app (the facade stays a plain ASGI app: uvicorn, hypercorn and the
tests' servers run it unchanged); ``python -m facade`` uses it because, measured by
``bench/facade_bench.py``, it does the same job with less per-request work than
uvicorn's httptools protocol: the response head and a single-message body leave in one
``write`` (one syscall instead of two), idle keep-alive connections are reaped by one
periodic sweep instead of a timer per request, and the scope is built without the
generic server's options (root_path, proxy headers, limits, access log) the facade does
not use.

What it implements: keep-alive and pipelining (one request at a time per connection,
in order), request bodies with back-pressure, ``Expect: 100-continue``, chunked or
``Content-Length`` responses, HEAD, ``Connection: close``, HTTP/1.0, write
back-pressure, ``http.disconnect``, a 500 for an app that fails before answering,
lifespan, graceful shutdown on SIGTERM/SIGINT. Not implemented: TLS, HTTP/2,
WebSockets (the facade refuses them anyway), upgrades (answered as plain requests,
then the connection closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import unquote

import httptools

from facade.types import ASGIApp, Message, RawHeaders

_ASGI = {"version": "3.0", "spec_version": "2.4"}
_REASONS = {s.value: s.phrase.encode() for s in http.HTTPStatus}
_STATUS_LINES: dict[int, bytes] = {}
_MAX_BODY_BUFFER = 256 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
_INTERNAL_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 11\r\nconnection: close\r\n\r\nBad Request"
)


class ClientGone(OSError):
    """``send`` after the client disconnected (ASGI 2.4: an OSError)."""


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        reason = _REASONS.get(status, b"")
        line = b"HTTP/1.1 %d %s\r\n" % (status, reason)
        if len(_STATUS_LINES) < 1000:
            _STATUS_LINES[status] = line
    return line


class _Server:
    """State shared by the connections of one listening server."""

    def __init__(self, app: ASGIApp, keepalive: float) -> None:
        self.app = app
        self.keepalive = keepalive
        self.connections: set[HttpProtocol] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.app_state: dict[str, Any] = {}


class _Exchange:
    """One request/response on a connection: the ASGI ``receive`` and ``send``."""

    __slots__ = (
        "body",
        "body_done",
        "buffered",
        "chunked",
        "close_given",
        "conn",
        "expect_continue",
        "finished",
        "head",
        "head_only",
        "keep_alive",
        "more_body_sent",
        "request_done",
        "scope",
        "started",
        "status",
        "task",
        "waiter",
    )

    def __init__(
        self, conn: HttpProtocol, scope: dict[str, Any], keep_alive: bool, expect: bool
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect
        self.head_only = scope["method"] == "HEAD"
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.close_given = False
        self.body_done = False  # the parser saw the end of the request
        self.request_done = False  # the app got the last http.request message
        self.waiter: asyncio.Future[None] | None = None
        self.started = False
        self.finished = False
        self.chunked = False
        self.more_body_sent = False
        self.status = 0
        self.head: list[bytes] | None = None
        self.task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive(self) -> Message:
        conn = self.conn
        while True:
            if conn.closed:
                return {"type": "http.disconnect"}
            if self.body:
                chunk = self.body.popleft()
                self.buffered -= len(chunk)
                if conn.reading_paused and self.buffered < _MAX_BODY_BUFFER // 2:
                    conn.resume_reading()
                more = bool(self.body) or not self.body_done
                self.request_done = not more
                return {"type": "http.request", "body": chunk, "more_body": more}
            if self.body_done and not self.request_done:
                self.request_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.expect_continue and not self.started:
                self.expect_continue = False
                conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if conn.reading_paused and not self.request_done and not conn.pipeline:
                conn.resume_reading()
            waiter = self.waiter = conn.loop.create_future()
            try:
                await waiter
            finally:
                self.waiter = None

    async def send(self, message: Message) -> None:
        conn = self.conn
        if conn.closed:
            raise ClientGone("the client closed the connection")
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = status = message["status"]
            lines = [_status_line(status)]
            length_given = False
            for name, value in message.get("headers", ()):
                lname = name.lower()
                if lname == b"content-length":
                    length_given = True
                elif lname == b"transfer-encoding":
                    # The app framed the body itself: nothing to add, chunks pass as sent.
                    length_given = True
                elif lname == b"connection" and value.lower() == b"close":
                    self.keep_alive = False
                    self.close_given = True
                lines += (name, b": ", value, b"\r\n")
            if length_given or status in _NO_BODY_STATUS or status < 200:
                self.chunked = False
                lines.append(b"\r\n")
                self.head = lines
            else:
                self.head = lines  # framing decided by the first body message
                self.chunked = True
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if not self.started or self.finished:
            raise RuntimeError("http.response.body outside a response")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        head = self.head
        if head is not None:
            self.head = None
            if self.chunked:
                if not more and not self.more_body_sent:
                    # The whole body in one message: say how long it is.
                    self.chunked = False
                    if not self.head_only:
                        head.append(b"content-length: %d\r\n\r\n" % len(body))
                    else:
                        head.append(b"\r\n")
                elif self.scope["http_version"] == "1.0":
                    self.chunked = False
                    self.keep_alive = False  # close-delimited
                    head.append(b"\r\n")
                else:
                    head.append(b"transfer-encoding: chunked\r\n\r\n")
            if not self.keep_alive and not self.close_given:
                head.insert(-1, b"connection: close\r\n")
            if self.head_only or self.status in _NO_BODY_STATUS:
                conn.write(b"".join(head))
            elif self.chunked:
                if body:
                    head.append(b"%x\r\n%b\r\n" % (len(body), body))
                if not more:
                    head.append(b"0\r\n\r\n")
                conn.write(b"".join(head))
            else:
                head.append(body)
                conn.write(b"".join(head))
        elif not self.head_only and self.status not in _NO_BODY_STATUS:
            if self.chunked:
                if body:
                    conn.write(b"%x\r\n%b\r\n" % (len(body), body))
                if not more:
                    conn.write(b"0\r\n\r\n")
            elif body:
                conn.write(body)
        if more:
            self.more_body_sent = True
            if conn.writing_paused:
                await conn.drain()
        else:
            self.finished = True
            conn.exchange_done(self)


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: _Server, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.reading_paused = False
        self.writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        self.current: _Exchange | None = None
        self.pipeline: deque[_Exchange] = deque()
        self.idle_since = 0.0
        self._url = b""
        self._headers: RawHeaders = []
        self._expect = False
        self._reading: _Exchange | None = None  # the exchange whose body is being parsed
        self._server_addr: tuple[str, int] | None = None
        self._client_addr: tuple[str, int] | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server.connections.add(self)
        sock = transport.get_extra_info("sockname")
        peer = transport.get_extra_info("peername")
        if isinstance(sock, tuple):
            self._server_addr = (str(sock[0]), int(sock[1]))
        if isinstance(peer, tuple):
            self._client_addr = (str(peer[0]), int(peer[1]))
        self.idle_since = time.monotonic()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        for exchange in (self.current, *self.pipeline):
            if exchange is not None:
                exchange.wake()
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrades (and CONNECT) are answered as plain requests; the connection ends.
            if self._reading is not None:
                self._reading.keep_alive = False
                self._reading.body_done = True
                self._reading.wake()
            self.pause_reading()
        except httptools.HttpParserError:
            if self.current is None or not self.current.started:
                self.write(_BAD_REQUEST)
            self.close()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        version = parser.get_http_version()
        url = self._url
        if url[:1] == b"/" and b"#" not in url:
            mark = url.find(b"?")
            raw_path, query = (url, b"") if mark < 0 else (url[:mark], url[mark + 1 :])
        else:
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                parsed = None
            raw_path = (parsed.path if parsed else None) or b""
            query = (parsed.query if parsed else None) or b""
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = unquote(path)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self._server_addr,
            "client": self._client_addr,
            "scheme": "http",
            "method": parser.get_method().decode("ascii"),
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": self._headers,
            "state": self.server.app_state.copy(),
        }
        keep_alive = version != "1.0" and parser.should_keep_alive()
        exchange = _Exchange(self, scope, keep_alive, self._expect)
        self._reading = exchange
        if self.current is None:
            self._start(exchange)
        else:
            self.pipeline.append(exchange)
            self.pause_reading()  # one request at a time: let the client wait in TCP

    def on_body(self, body: bytes) -> None:
        exchange = self._reading
        if exchange is None:
            return
        exchange.body.append(body)
        exchange.buffered += len(body)
        if exchange.buffered > _MAX_BODY_BUFFER:
            self.pause_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        exchange = self._reading
        if exchange is not None:
            exchange.body_done = True
            exchange.wake()
        self._reading = None

    # -- exchanges
    def _start(self, exchange: _Exchange) -> None:
        self.current = exchange
        # The task leaves ``tasks`` at the end of ``_run`` (not by a done callback: that
        # would be one more loop callback per request).
        exchange.task = task = self.loop.create_task(self._run(exchange))
        self.server.tasks.add(task)

    async def _run(self, exchange: _Exchange) -> None:
        try:
            await self.server.app(exchange.scope, exchange.receive, exchange.send)
        except ClientGone:
            pass
        except BaseException as exc:
            if not exchange.started and not self.closed:
                self.write(_INTERNAL_ERROR)
            self.close()
            if not isinstance(exc, Exception):
                raise
            _log_app_error(exc)
            return
        finally:
            if exchange.task is not None:
                self.server.tasks.discard(exchange.task)
        if not exchange.finished and not self.closed:
            if not exchange.started:
                self.write(_INTERNAL_ERROR)
            self.close()  # a half-sent response cannot be completed

    def exchange_done(self, exchange: _Exchange) -> None:
        self.current = None
        if not exchange.keep_alive or self._reading is exchange:
            # Closing, or the request body is still arriving: the bytes that follow are
            # not the next request, so the connection cannot be reused.
            self.close()
            return
        self.idle_since = time.monotonic()
        if self.pipeline:
            self._start(self.pipeline.popleft())
        if not self.pipeline and self.reading_paused:
            self.resume_reading()

    # -- transport helpers
    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.closed or not self.writing_paused:
            return
        fut = self._drain = self.loop.create_future()
        try:
            await fut
        finally:
            self._drain = None

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def idle(self) -> bool:
        return self.current is None and not self.pipeline


def _log_app_error(exc: BaseException) -> None:
    import traceback

    sys.stderr.write("".join(traceback.format_exception(exc)))
    sys.stderr.flush()


async def _lifespan(app: ASGIApp, phase: str) -> None:
    """Run one lifespan phase; apps that do not speak lifespan are fine."""
    sent = False
    done: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": f"lifespan.{phase}"}
        await asyncio.Event().wait()  # never: one phase per call
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if not done.done():
            done.set_result(message)

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": _ASGI}, receive, send))
    waiters: set[asyncio.Future[Any]] = {task, done}
    finished, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if done in finished:
        message = done.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if message["type"].endswith(".failed"):
            raise RuntimeError(f"lifespan {phase} failed: {message.get('message', '')}")
    else:
        with contextlib.suppress(Exception):
            task.result()


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    keepalive: float = 75.0,
    backlog: int = 4096,
    on_ready: Callable[[list[tuple[str, int]]], None] | None = None,
    stop: asyncio.Event | None = None,
    graceful_timeout: float = 10.0,
) -> None:
    """Serve ``app`` until ``stop`` is set (or SIGTERM/SIGINT when ``stop`` is None).

    ``on_ready`` gets the bound addresses once the socket listens (``port=0``: any free).
    """
    loop = asyncio.get_running_loop()
    state = _Server(app, keepalive)
    await _lifespan(app, "startup")
    server = await loop.create_server(
        lambda: HttpProtocol(state, loop), host, port, backlog=backlog, reuse_address=True
    )
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready([sock.getsockname()[:2] for sock in server.sockets])
    reaper = loop.create_task(_reap_idle(state))
    try:
        await stop.wait()
    finally:
        reaper.cancel()
        server.close()
        for conn in list(state.connections):
            if conn.idle():
                conn.close()
        deadline = time.monotonic() + graceful_timeout
        while state.tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(state.connections):
            conn.close()
        for task in list(state.tasks):
            task.cancel()
        await _lifespan(app, "shutdown")


async def _reap_idle(state: _Server) -> None:
    """Close keep-alive connections idle longer than ``keepalive`` (one sweep a second)."""
    while True:
        await asyncio.sleep(min(1.0, state.keepalive / 2))
        cutoff = time.monotonic() - state.keepalive
        for conn in list(state.connections):
            if conn.idle() and conn.idle_since < cutoff:
                conn.close()
