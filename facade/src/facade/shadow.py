"""Shadow mode: the monolith answers, a copy goes to the candidate off the request path.

Copies wait in a bounded queue served by a few workers; a full queue drops the copy
(counted) instead of slowing anyone down. Each finished pair of responses goes to the
ComparisonSinks (facade.parity.ParitySink compares them, StatusMatchSink counts status
matches). Everything after the client's response, including the noise sample (the primary
asked a second time) and the comparison, happens here, in the workers.

Dry-run copies of writes carry ``X-Strangler-Dry-Run: 1``; a candidate that honours it
answers ``X-Strangler-Dry-Run: rolled-back``. Without that answer the copy counts as a
candidate error: the candidate may have written for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from facade.client import HttpClient, RequestBody, UpstreamResponse
from facade.config import SAFE_METHODS, RouteConfig
from facade.errors import UpstreamError
from facade.metrics import Metrics
from facade.types import RawHeaders
from facade.upstreams import Upstream

DRY_RUN_HEADER = b"x-strangler-dry-run"
DRY_RUN_CONFIRMED = b"rolled-back"


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
    route: RouteConfig | None = None
    """The route as it was when the request came in (its compare rules)."""
    dry_run: bool = False
    secondary_status: int | None = None
    """The primary asked a second time (noise sample), when it was."""
    secondary_headers: RawHeaders = field(default_factory=list)
    secondary_body: bytes | None = None


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
    primary: Upstream | None = None
    """Where a noise sample goes (the upstream that answered the client)."""


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
        self.on_count: Callable[[str, str], None] | None = None
        """Told every outcome (parity counts drops and skipped writes); must not block."""

    def count(self, route_id: str, outcome: str) -> None:
        self.stats[route_id][outcome] += 1
        self._metrics.shadow.labels(route_id, outcome).inc()
        if self.on_count is not None:
            self.on_count(route_id, outcome)

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
        started = time.perf_counter()
        extra = [(DRY_RUN_HEADER, b"1")] if exchange.dry_run else []
        try:
            status, headers, body = await self._fetch(job.upstream, exchange, job.target, extra)
        except (UpstreamError, TimeoutError) as exc:
            exchange.candidate_error = f"{type(exc).__name__}: {exc}"
        else:
            exchange.candidate_status = status
            exchange.candidate_headers = headers
            exchange.candidate_body = body
            confirmed = (DRY_RUN_HEADER, DRY_RUN_CONFIRMED) in [(n.lower(), v) for n, v in headers]
            if exchange.dry_run and not confirmed:
                exchange.candidate_error = (
                    f"dry run not confirmed (status {status}, no X-Strangler-Dry-Run: "
                    "rolled-back): the candidate may have written for real"
                )
        exchange.candidate_seconds = time.perf_counter() - started
        await self._sample_noise(job)
        self.count(exchange.route_id, "failed" if exchange.candidate_error else "completed")
        for sink in self.sinks:
            await sink.submit(exchange)

    async def _sample_noise(self, job: ShadowJob) -> None:
        """Ask the primary again, now and then, to learn which fields change on their own."""
        exchange, route = job.exchange, job.exchange.route
        if (
            job.primary is None
            or route is None
            or exchange.method not in SAFE_METHODS
            or exchange.candidate_error is not None
            or random.random() >= route.compare.noise_sample_rate
        ):
            return
        with contextlib.suppress(UpstreamError, TimeoutError):
            status, headers, body = await self._fetch(job.primary, exchange, job.target, [])
            exchange.secondary_status = status
            exchange.secondary_headers = headers
            exchange.secondary_body = body

    async def _fetch(
        self, upstream: Upstream, exchange: ShadowExchange, target: bytes, extra: RawHeaders
    ) -> tuple[int, RawHeaders, bytes | None]:
        instance = upstream.pick()
        if instance is None:
            raise UpstreamError(f"no instance of {upstream.name}")
        headers = [(n, v) for n, v in exchange.request_headers if n != b"content-length"]
        headers.extend(extra)
        body = exchange.request_body
        if body or exchange.method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            headers.append((b"content-length", str(len(body)).encode()))
        async with asyncio.timeout(self._timeout):
            resp = await self._client.request(
                instance.origin,
                exchange.method,
                target,
                headers,
                RequestBody(data=body, length=len(body)),
                connect_timeout=upstream.config.connect_timeout,
                read_timeout=self._timeout,
                keepalive_expiry=upstream.config.keepalive_expiry,
            )
            try:
                return resp.status, list(resp.headers), await _read_limited(resp, self.max_body)
            finally:
                resp.release()


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
