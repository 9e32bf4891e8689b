"""Traffic recording for offline comparison (``strangler compare run``).

A sampled share of requests (``FACADE_RECORD_SAMPLE``, 0..1) is appended to
``FACADE_RECORD_FILE`` as JSON lines::

    {"method": "GET", "path": "/api/products/?page=2", "headers": {"accept": "..."},
     "body": null, "route": "catalog-products", "at": "2026-11-25T14:00:00.123456Z"}

Only the methods in ``FACADE_RECORD_METHODS`` (GET and HEAD by default) are sampled: a
replay sends every recorded request to both sides, so a recorded write would be written
twice. Credentials never reach the file: Cookie, Authorization and Proxy-Authorization
are left out, token-like query parameters and the route's ``pii`` names are masked
(facade.redact). Unsampled requests pay one random draw; sampled ones one line in a
bounded queue, written to disk by a task of their own (a full queue drops the line).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from facade.redact import SECRET_HEADERS, mask_target
from facade.types import RawHeaders

_QUEUE_SIZE = 10_000
_BATCH = 512
_CLOSE_TIMEOUT = 5.0
_STOP = b""
"""Queued by ``aclose``: whatever is queued before it is written, then the task ends."""


class TrafficRecorder:
    def __init__(
        self,
        path: Path,
        sample: float,
        methods: Iterable[str] = ("GET", "HEAD"),
        *,
        queue_size: int = _QUEUE_SIZE,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.path = path
        self.sample = sample
        self.methods = frozenset(m.strip().upper() for m in methods if m.strip())
        self.recorded = 0
        self.dropped = 0
        self._draw = draw
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None

    def wants(self, method: str) -> bool:
        """Whether this request is sampled (decide before reading its body)."""
        if self.sample <= 0 or method not in self.methods:
            return False
        return self.sample >= 1 or self._draw() < self.sample

    def record(
        self,
        method: str,
        target: str,
        headers: RawHeaders,
        body: bytes | None,
        route_id: str | None,
        pii: frozenset[str] = frozenset(),
    ) -> None:
        """Queue one sampled request; ``headers`` are those the facade forwards."""
        kept: dict[str, str] = {}
        for name, value in headers:
            key = name.decode("latin-1")
            if key in SECRET_HEADERS:
                continue
            text = value.decode("latin-1")
            kept[key] = f"{kept[key]}, {text}" if key in kept else text
        entry: dict[str, Any] = {
            "method": method,
            "path": mask_target(target, pii),
            "headers": kept,
            "body": base64.b64encode(body).decode("ascii") if body else None,
            "route": route_id,
            "at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        }
        try:
            self._queue.put_nowait(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            lines = [await self._queue.get()]
            while len(lines) < _BATCH and not self._queue.empty():
                lines.append(self._queue.get_nowait())
            stop = _STOP in lines
            await self._write([line for line in lines if line])
            if stop:
                return

    async def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        try:
            # A thread: a slow disk must not stall the event loop that proxies.
            await asyncio.to_thread(self._append, b"".join(lines))
        except OSError:
            self.dropped += len(lines)  # an unwritable file must not break proxying
        else:
            self.recorded += len(lines)

    def _append(self, data: bytes) -> None:
        with self.path.open("ab") as out:
            out.write(data)

    async def aclose(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.put(_STOP)
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(task, _CLOSE_TIMEOUT)
        except TimeoutError:
            self.dropped += self._queue.qsize()
