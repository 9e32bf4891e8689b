"""The proxy: route, pick a side by mode, forward with resilience, stream back."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from facade._headers import (
    IncomingHeaders,
    header_dict,
    request_id,
    response_headers,
    split_request_headers,
    traceparent,
)
from facade.accesslog import AccessLog
from facade.breaker import BreakerState
from facade.canary import goes_to_candidate, sticky_key
from facade.client import HttpClient, RequestBody, UpstreamResponse
from facade.config import IDEMPOTENT_METHODS, SAFE_METHODS
from facade.errors import (
    BodyTooLarge,
    ClientDisconnected,
    ConnectFailed,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamTimeout,
)
from facade.identity import CsrfFailed, IdentityBridge
from facade.matching import CompiledRoute
from facade.metrics import Metrics
from facade.problem import send_problem
from facade.recorder import TrafficRecorder
from facade.settings import FacadeSettings
from facade.shadow import ShadowExchange, ShadowJob, ShadowQueue
from facade.state import RouteState, Snapshot
from facade.tracing import RequestTracer, request_tracer
from facade.types import RawHeaders, Receive, Scope, Send
from facade.upstreams import Upstream
from facade.window import RollingStats


class BreakerOpen(UpstreamError):
    kind = "breaker_open"

    def __init__(self, retry_after: float) -> None:
        super().__init__("circuit breaker open")
        self.retry_after = retry_after


class BulkheadFull(UpstreamError):
    kind = "bulkhead"


class Upstream5xx(UpstreamError):
    kind = "5xx"


@dataclass(slots=True)
class _Log:
    route: str = "-"
    mode: str = "-"
    upstream: str = "-"
    status: int = 0
    fallback: str | None = None
    error: str | None = None
    traceparent: bytes = b""  # what the upstream gets; its trace id goes into the access log


class Proxy:
    def __init__(
        self,
        settings: FacadeSettings,
        state: RouteState,
        client: HttpClient,
        metrics: Metrics,
        shadow: ShadowQueue,
        access_log: AccessLog | None,
        window: RollingStats | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.client = client
        self.metrics = metrics
        self.shadow = shadow
        self.access_log = access_log
        self.window = window if window is not None else RollingStats()
        self.recorder: TrafficRecorder | None = None
        self.identity: IdentityBridge | None = None
        self._public_origin = (
            settings.public_origin.rstrip("/").encode() if settings.public_origin else None
        )
        self._tracing = request_tracer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        snap = self.state.snapshot  # this request finishes on this table, whatever swaps
        log = _Log()
        incoming = split_request_headers(scope["headers"])
        rid = request_id(incoming.request_id)
        span = None
        if self._tracing is None:
            log.traceparent = traceparent(incoming.traceparent)
        else:
            span, log.traceparent = self._tracing.start(
                incoming.traceparent, scope["method"], scope["path"]
            )
        self.metrics.in_flight_count += 1
        try:
            await self._handle(scope, receive, send, snap, incoming, rid, log)
        finally:
            if span is not None:
                RequestTracer.end(span, scope["method"], log.route, log.upstream, log.status)
            self.metrics.in_flight_count -= 1
            elapsed = time.perf_counter() - started
            self.metrics.observe(log.route, log.upstream, log.mode, log.status, elapsed)
            if log.upstream != "-":  # refused before any upstream: no side to count
                self.window.record(log.route, log.upstream, log.status, elapsed, started + elapsed)
            if self.access_log is not None:
                record: dict[str, Any] = {
                    "ts": time.time(),
                    "request_id": rid.decode("latin-1"),
                    "trace_id": log.traceparent[3:35].decode("latin-1"),
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": log.route,
                    "mode": log.mode,
                    "upstream": log.upstream,
                    "status": log.status,
                    "duration_ms": round(elapsed * 1000, 3),
                }
                if span is not None:
                    record["span_id"] = log.traceparent[36:52].decode("latin-1")
                if log.fallback:
                    record["fallback"] = log.fallback
                if log.error:
                    record["error"] = log.error
                self.access_log.write(record)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        snap: Snapshot,
        incoming: IncomingHeaders,
        rid: bytes,
        log: _Log,
    ) -> None:
        method: str = scope["method"]
        rid_header = [(b"x-request-id", rid)]

        async def refuse(status: int, detail: str, **extra: Any) -> None:
            log.status = status
            headers = rid_header
            if "retry_after" in extra:
                headers = [*rid_header, (b"retry-after", str(extra["retry_after"]).encode())]
            await send_problem(send, status, detail, headers, request_id=rid.decode(), **extra)

        if method == "CONNECT":
            return await refuse(405, "CONNECT is not supported: this is not a forward proxy")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if not raw_path.startswith(b"/"):
            return await refuse(400, "the request target must be an absolute path")
        if scope["path"].lstrip("/").partition("/")[0] == "_internal":
            # The upstreams' internal endpoints trust the facade's address: never relay.
            return await refuse(404, "no such resource")
        if incoming.bad_content_length or (
            incoming.chunked and incoming.content_length is not None
        ):
            return await refuse(400, "invalid Content-Length / Transfer-Encoding")

        lookup = _lookup(scope["headers"], incoming)
        route = snap.table.route(method, scope["path"], lookup)
        cfg = route.config
        log.route, log.mode = route.id, cfg.mode

        limit = (
            cfg.max_body_bytes if cfg.max_body_bytes is not None else self.settings.max_body_bytes
        )
        if incoming.content_length is not None and incoming.content_length > limit:
            return await refuse(413, f"request body larger than {limit} bytes", limit=limit)

        query: bytes = scope.get("query_string", b"")
        target = raw_path + b"?" + query if query else raw_path

        # Who answers, who may step in, who gets a copy.
        fallback = snap.upstreams[route.fallback]
        candidate = snap.upstreams[cfg.upstream]
        primary, backup, mirror, dry_run = fallback, None, None, False
        if cfg.mode == "extracted":
            primary = candidate
        elif cfg.mode == "canary":
            client = scope.get("client")
            key = sticky_key(cfg.sticky, lookup, client[0] if client else None)
            if goes_to_candidate(route.id, cfg.percent or 0.0, key, random.random()):
                primary = candidate
            elif cfg.ramp is not None and cfg.ramp.min_compared and method in SAFE_METHODS:
                mirror = candidate  # parity keeps being measured on the monolith's share
        elif cfg.mode == "shadow" and (method in SAFE_METHODS or cfg.shadow_writes is not None):
            mirror = candidate
            dry_run = method not in SAFE_METHODS and cfg.shadow_writes == "dry-run"
        elif cfg.mode == "shadow":
            self.shadow.count(route.id, "skipped")
        if primary is not fallback and method in SAFE_METHODS:
            backup = fallback

        base = self._forward_headers(scope, incoming, rid, log.traceparent)
        # Only a request some extracted service sees asks who the user is: routes that stay
        # on the monolith (candidate and fallback alike) never pay for a lookup.
        identity = None
        if self.identity is not None and candidate is not fallback:
            if primary is candidate and method not in SAFE_METHODS:
                # The monolith's CSRF check no longer sees this write: the bridge asks it.
                scheme, host = self._client_origin(scope, incoming)
                try:
                    identity = await self.identity.write_header(
                        incoming, candidate.name, rid, method=method, scheme=scheme, host=host
                    )
                except CsrfFailed as exc:
                    return await refuse(403, f"CSRF Failed: {exc.reason}")
            elif primary is candidate or mirror is not None:
                identity = await self.identity.header(incoming, candidate.name, rid)
        has_body = incoming.chunked or bool(incoming.content_length)
        # Sampled before the body is read: a recorded body has to be buffered.
        recorder = self.recorder if self.recorder and self.recorder.wants(method) else None
        try:
            if has_body and (backup is not None or mirror is not None or recorder is not None):
                data = await _read_body(receive, limit)
                body = RequestBody(data=data, length=len(data))
            elif has_body:
                body = RequestBody(
                    data=None, stream=_body_stream(receive, limit), length=incoming.content_length
                )
            else:
                body = RequestBody(data=b"", length=incoming.content_length)
            if body.length is not None and (has_body or incoming.content_length is not None):
                base.append((b"content-length", str(body.length).encode()))
            if recorder is not None:
                pii = frozenset(cfg.compare.pii)
                target_text = target.decode("latin-1")
                recorder.record(method, target_text, incoming.forward, body.data, route.id, pii)

            timeout = cfg.timeout
            resp: UpstreamResponse | None = None
            answered_by = primary
            sent = base if identity is None or primary is not candidate else [*base, identity]
            try:
                resp = await self._exchange(
                    primary, method, target, sent, body, incoming, timeout, backup is not None
                )
            except UpstreamError as exc:
                if backup is None:
                    raise
                log.fallback = exc.kind
                self.metrics.fallbacks.labels(route.id, primary.name, backup.name, exc.kind).inc()
                self.window.failover(route.id, primary.name, time.perf_counter())
                answered_by = backup
                # The route's timeout is for its candidate; the fallback keeps its own.
                resp = await self._exchange(
                    backup, method, target, base, body, incoming, None, False
                )
        except BodyTooLarge:
            return await refuse(413, f"request body larger than {limit} bytes", limit=limit)
        except ClientDisconnected:
            log.status = 499
            return None
        except UpstreamError as exc:
            log.upstream = exc_upstream(exc) or log.upstream
            log.error = f"{exc.kind}: {exc}"
            return await self._fail(refuse, exc)

        log.upstream = answered_by.name
        log.status = resp.status
        await self._respond(
            scope,
            send,
            snap,
            resp,
            answered_by,
            rid,
            incoming,
            log,
            route,
            method,
            target,
            base,
            body,
            mirror,
            dry_run,
            identity,
        )
        return None

    async def _fail(self, refuse: Callable[..., Awaitable[None]], exc: UpstreamError) -> None:
        if isinstance(exc, UpstreamTimeout):
            return await refuse(504, f"upstream timed out ({exc})")
        if isinstance(exc, BreakerOpen):
            retry = max(1, round(exc.retry_after))
            return await refuse(503, f"{exc}; retry later", retry_after=retry)
        if isinstance(exc, BulkheadFull):
            return await refuse(503, str(exc), retry_after=1)
        if isinstance(exc, Upstream5xx):
            return await refuse(502, str(exc))
        return await refuse(502, f"upstream unreachable ({exc})")

    def _forward_headers(
        self, scope: Scope, incoming: IncomingHeaders, rid: bytes, trace: bytes
    ) -> RawHeaders:
        out = list(incoming.forward)
        client = scope.get("client")
        client_ip = client[0].encode() if client else b""
        proto, fhost = self._client_origin(scope, incoming)
        if self.settings.trust_forwarded_headers:
            xff = (
                incoming.forwarded_for + b", " + client_ip if incoming.forwarded_for else client_ip
            )
        else:
            xff = client_ip
        if xff:
            out.append((b"x-forwarded-for", xff))
        out.append((b"x-forwarded-proto", proto))
        if fhost:
            out.append((b"x-forwarded-host", fhost))
        out.append((b"x-request-id", rid))
        out.append((b"traceparent", trace))
        return out

    def _client_origin(self, scope: Scope, incoming: IncomingHeaders) -> tuple[bytes, bytes]:
        """The scheme and host the client used, as X-Forwarded-Proto/-Host tell upstreams."""
        scheme = scope.get("scheme", "http").encode()
        if self.settings.trust_forwarded_headers:
            return incoming.forwarded_proto or scheme, incoming.forwarded_host or incoming.host
        return scheme, incoming.host

    async def _exchange(
        self,
        upstream: Upstream,
        method: str,
        target: bytes,
        base: RawHeaders,
        body: RequestBody,
        incoming: IncomingHeaders,
        timeout: float | None,
        fail_on_5xx: bool,
    ) -> UpstreamResponse:
        """One upstream call behind breaker and bulkhead, connect retries across instances.

        On success the bulkhead slot stays taken: ``_respond`` frees it after the body.
        """
        breaker = upstream.breaker
        if not breaker.allow():
            self.metrics.upstream_errors.labels(upstream.name, "breaker_open").inc()
            raise _tag(BreakerOpen(breaker.retry_after()), upstream)
        if not upstream.bulkhead.try_enter():
            breaker.release()
            self.metrics.upstream_errors.labels(upstream.name, "bulkhead").inc()
            raise _tag(BulkheadFull(f"{upstream.name} is at its concurrency limit"), upstream)
        cfg = upstream.config
        read_timeout = timeout or cfg.read_timeout
        tried: list[Any] = []
        try:
            attempt = 0
            while True:
                instance = upstream.pick(tried if len(tried) < len(upstream.instances) else ())
                if instance is None:
                    raise ConnectFailed(f"no instance of {upstream.name} left to try")
                if cfg.preserve_host and incoming.host:
                    headers = [(b"host", incoming.host), *base]
                else:
                    headers = [(b"host", instance.origin.host_header), *base]
                try:
                    resp = await self.client.request(
                        instance.origin,
                        method,
                        target,
                        headers,
                        body,
                        connect_timeout=cfg.connect_timeout,
                        read_timeout=read_timeout,
                        keepalive_expiry=cfg.keepalive_expiry,
                    )
                except ConnectFailed:
                    upstream.connect_failed(instance)
                    tried.append(instance)
                    if (
                        attempt >= cfg.retries
                        or method not in IDEMPOTENT_METHODS
                        or not body.replayable
                    ):
                        raise
                    self.metrics.retries.labels(upstream.name).inc()
                    await asyncio.sleep(cfg.retry_backoff * (2**attempt))
                    attempt += 1
                    continue
                upstream.connect_ok(instance)
                break
        except UpstreamError as exc:
            self._leave(upstream)
            breaker.record_failure()
            self.metrics.upstream_errors.labels(upstream.name, exc.kind).inc()
            raise _tag(exc, upstream) from None
        except BaseException:
            self._leave(upstream)
            breaker.release()
            raise
        if resp.status >= 500:
            if cfg.breaker.trip_on_5xx:
                breaker.record_failure()
            else:
                breaker.record_success()
            self.metrics.upstream_errors.labels(upstream.name, "5xx").inc()
            if fail_on_5xx:
                resp.release()
                self._leave(upstream)
                raise _tag(Upstream5xx(f"{upstream.name} answered {resp.status}"), upstream)
        else:
            breaker.record_success()
        return resp

    @staticmethod
    def _leave(upstream: Upstream) -> None:
        upstream.bulkhead.leave()

    async def _respond(
        self,
        scope: Scope,
        send: Send,
        snap: Snapshot,
        resp: UpstreamResponse,
        upstream: Upstream,
        rid: bytes,
        incoming: IncomingHeaders,
        log: _Log,
        route: CompiledRoute,
        method: str,
        target: bytes,
        base: RawHeaders,
        body: RequestBody,
        mirror: Upstream | None,
        dry_run: bool = False,
        identity: tuple[bytes, bytes] | None = None,
    ) -> None:
        if self._public_origin is not None:
            origin = self._public_origin
        else:
            origin = scope.get("scheme", "http").encode() + b"://" + (incoming.host or b"localhost")
        bridge = self.identity
        headers = response_headers(
            resp.headers,
            rid,
            snap.upstream_origins,
            origin,
            None if bridge is None else lambda: bridge.revoke(incoming),
        )
        tee: list[bytes] | None = [] if mirror is not None else None
        tee_size = 0
        finished = False
        try:
            whole = resp.complete_body()
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            if whole is not None:
                await send({"type": "http.response.body", "body": whole})
                if tee is not None:
                    tee.append(whole)
                    tee_size = len(whole)
            else:
                while chunk := await resp.read_chunk():
                    if tee is not None:
                        tee_size += len(chunk)
                        if tee_size <= self.shadow.max_body:
                            tee.append(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            finished = True
        except UpstreamError as exc:
            # Headers are gone already: all we can do is cut the connection.
            log.error = f"{exc.kind} after response start: {exc}"
        except OSError as exc:  # the client went away
            log.error = f"client disconnected: {exc}"
        finally:
            resp.release()
            self._leave(upstream)
        if finished and mirror is not None and tee is not None:
            exchange = ShadowExchange(
                route_id=route.id,
                method=method,
                target=target.decode("latin-1"),
                request_headers=[
                    (b"host", incoming.host or mirror.name.encode()),
                    *(base if identity is None else [*base, identity]),
                ],
                request_body=body.data or b"",
                primary_upstream=upstream.name,
                primary_status=resp.status,
                primary_headers=list(resp.headers),
                primary_body=b"".join(tee) if tee_size <= self.shadow.max_body else None,
                candidate_upstream=mirror.name,
                route=route.config,
                dry_run=dry_run,
            )
            self.shadow.offer(ShadowJob(exchange, mirror, target, upstream))


def _tag(exc: UpstreamError, upstream: Upstream) -> UpstreamError:
    exc.upstream = upstream.name  # type: ignore[attr-defined]
    return exc


def exc_upstream(exc: UpstreamError) -> str | None:
    return getattr(exc, "upstream", None)


def _lookup(raw: RawHeaders, incoming: IncomingHeaders) -> Any:
    cache: dict[str, str] | None = None

    def header(name: str) -> str | None:
        nonlocal cache
        if cache is None:
            cache = header_dict(raw)
        return cache.get(name)

    return header


async def _read_body(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in _body_stream(receive, limit):
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


async def _body_stream(receive: Receive, limit: int) -> Any:
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge()
            yield chunk
        if not message.get("more_body", False):
            return


__all__ = ["BreakerState", "Proxy", "UpstreamDisconnected"]
