"""Shadow mode: the monolith answers, a copy goes to the candidate off the request path.

Copies wait in a bounded queue served by a few workers; a full queue drops the copy
(counted) instead of slowing anyone down. Each finished pair of responses goes to a
pluggable ComparisonSink; the default one records whether the status codes matched.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from facade.client import HttpClient, RequestBody, UpstreamResponse
from facade.errors import UpstreamError
from facade.metrics import Metrics
from facade.types import RawHeaders
from facade.upstreams import Upstream


@dataclass(slots=True)
class ShadowExchange:
    route_id: str
    method: str
    target: str
    request_headers: RawHeaders
    request_body: bytes
    primary_upstream: str
    primary_status: int
    primary_headers: RawHeaders
    primary_body: bytes | None
    """None when the body was larger than ``FACADE_SHADOW_MAX_BODY_BYTES``."""
    candidate_upstream: str
    candidate_status: int | None = None
    candidate_headers: RawHeaders = field(default_factory=list)
    candidate_body: bytes | None = None
    candidate_error: str | None = None
    candidate_seconds: float = 0.0


class ComparisonSink(Protocol):
    async def submit(self, exchange: ShadowExchange) -> None: ...


class StatusMatchSink:
    """Counts completed copies per route and whether the candidate's status matched."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def submit(self, exchange: ShadowExchange) -> None:
        if exchange.candidate_status is None:
            return
        match = exchange.candidate_status == exchange.primary_status
        self._metrics.shadow_status_match.labels(exchange.route_id, str(match).lower()).inc()


@dataclass(slots=True)
class ShadowJob:
    exchange: ShadowExchange
    upstream: Upstream
    target: bytes


class ShadowQueue:
    def __init__(
        self,
        client: HttpClient,
        metrics: Metrics,
        sinks: list[ComparisonSink],
        *,
        size: int,
        workers: int,
        timeout: float,
        max_body: int,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self.sinks = sinks
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=size)
        self._workers = workers
        self._timeout = timeout
        self.max_body = max_body
        self._tasks: list[asyncio.Task[None]] = []
        self.stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def count(self, route_id: str, outcome: str) -> None:
        self.stats[route_id][outcome] += 1
        self._metrics.shadow.labels(route_id, outcome).inc()

    def offer(self, job: ShadowJob) -> bool:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.count(job.exchange.route_id, "dropped")
            return False
        self.count(job.exchange.route_id, "mirrored")
        self._metrics.shadow_queue.set(self._queue.qsize())
        return True

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self._workers)]

    async def join(self) -> None:
        await self._queue.join()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            self._metrics.shadow_queue.set(self._queue.qsize())
            try:
                await self._run(job)
            except Exception as exc:  # a sink bug must not kill the worker
                job.exchange.candidate_error = f"{type(exc).__name__}: {exc}"
                self.count(job.exchange.route_id, "failed")
            finally:
                self._queue.task_done()

    async def _run(self, job: ShadowJob) -> None:
        exchange = job.exchange
        upstream = job.upstream
        instance = upstream.pick()
        started = time.perf_counter()
        if instance is None:
            exchange.candidate_error = "no instance"
        else:
            headers = [(n, v) for n, v in exchange.request_headers if n != b"content-length"]
            body = exchange.request_body
            if body or exchange.method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
                headers.append((b"content-length", str(len(body)).encode()))
            try:
                async with asyncio.timeout(self._timeout):
                    resp = await self._client.request(
                        instance.origin,
                        exchange.method,
                        job.target,
                        headers,
                        RequestBody(data=body, length=len(body)),
                        connect_timeout=upstream.config.connect_timeout,
                        read_timeout=self._timeout,
                        keepalive_expiry=upstream.config.keepalive_expiry,
                    )
                    try:
                        exchange.candidate_status = resp.status
                        exchange.candidate_headers = list(resp.headers)
                        exchange.candidate_body = await _read_limited(resp, self.max_body)
                    finally:
                        resp.release()
            except (UpstreamError, TimeoutError) as exc:
                exchange.candidate_error = f"{type(exc).__name__}: {exc}"
        exchange.candidate_seconds = time.perf_counter() - started
        self.count(exchange.route_id, "failed" if exchange.candidate_error else "completed")
        for sink in self.sinks:
            await sink.submit(exchange)


async def _read_limited(resp: UpstreamResponse, limit: int) -> bytes | None:
    whole = resp.complete_body()
    if whole is not None:
        return whole if len(whole) <= limit else None
    parts: list[bytes] = []
    size = 0
    while chunk := await resp.read_chunk():
        size += len(chunk)
        if size <= limit:
            parts.append(chunk)
    return None if size > limit else b"".join(parts)
