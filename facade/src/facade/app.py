"""The facade's ASGI application: own endpoints, admin API, everything else proxied."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any

from facade.accesslog import AccessLog
from facade.admin import PREFIX, AdminAPI
from facade.client import HttpClient, NativeClient
from facade.dashboard import is_page, serve_page
from facade.gate import GateSettings
from facade.identity import make_bridge
from facade.metrics import CONTENT_TYPE, Metrics
from facade.parity import ParityCollector, ParitySink, make_store
from facade.problem import send_bytes, send_json, send_problem
from facade.proxy import Proxy
from facade.ramp import RampController, redis_leader
from facade.recorder import TrafficRecorder
from facade.settings import FacadeSettings
from facade.shadow import ComparisonSink, ShadowQueue, StatusMatchSink
from facade.state import RouteState, log_event
from facade.types import Receive, Scope, Send
from facade.window import RollingStats

_OWN_PATHS = ("/healthz", "/readyz", "/metrics", "/_strangler")


class Facade:
    def __init__(
        self,
        settings: FacadeSettings,
        sinks: list[ComparisonSink] | None = None,
        client: HttpClient | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.state = RouteState(settings, self.metrics)
        self.client: HttpClient = client or _make_client(settings)
        self.parity = make_store(
            settings.redis_url,
            settings.redis_prefix,
            recent=settings.parity_recent,
            top_fields=settings.parity_top_fields,
            window_seconds=settings.parity_window_seconds,
        )
        parity_collector = ParityCollector()
        self.metrics.registry.register(parity_collector)
        self.parity_sink = ParitySink(self.parity, self.metrics, parity_collector)
        self.shadow = ShadowQueue(
            self.client,
            self.metrics,
            sinks if sinks is not None else [StatusMatchSink(self.metrics), self.parity_sink],
            size=settings.shadow_queue_size,
            workers=settings.shadow_workers,
            timeout=settings.shadow_timeout,
            max_body=settings.shadow_max_body_bytes,
        )
        self.access_log = AccessLog() if settings.access_log else None
        self.window = RollingStats()
        self.proxy = Proxy(
            settings,
            self.state,
            self.client,
            self.metrics,
            self.shadow,
            self.access_log,
            window=self.window,
        )
        self.shadow.on_count = self.parity.note_shadow_outcome
        self.recorder = _make_recorder(settings)
        self.proxy.recorder = self.recorder
        self.identity = make_bridge(settings, self.metrics.registry)
        self.proxy.identity = self.identity
        self.admin = AdminAPI(settings, self.state, self.shadow, window=self.window)
        self.admin.parity = self.parity
        self.ramp: RampController | None = None
        self._ramp_task: asyncio.Task[None] | None = None
        self._started = False
        self._start_lock: asyncio.Lock | None = None

    async def startup(self) -> None:
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            await self.state.start()
            await self.parity.start()
            self.shadow.start()
            if self.access_log is not None:
                self.access_log.start()
            if self.recorder is not None:
                self.recorder.start()
            if self.identity is not None:
                await self.identity.start()
            self._start_ramp()
            self._started = True
            # Everything alive now (modules, config, compiled routes, metrics) lives as long
            # as the process: keep it out of the collector's full passes, which otherwise
            # walk it again and again under load.
            gc.freeze()
            log_event(
                "facade_started",
                version=self.state.snapshot.version,
                routes=[r.id for r in self.state.snapshot.table.routes],
                client=self.settings.http_client,
            )

    def _start_ramp(self) -> None:
        redis = getattr(self.state, "_redis", None)
        leader = (
            redis_leader(redis, f"{self.settings.redis_prefix}:ramp-leader")
            if redis is not None
            else None
        )
        self.ramp = RampController(
            self.state,
            self.window,
            self.parity.window,
            gate=GateSettings.from_env(),
            is_leader=leader,
        )
        self._ramp_task = asyncio.get_running_loop().create_task(
            self.ramp.run(self.settings.ramp_interval)
        )

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._ramp_task is not None:
            self._ramp_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ramp_task
        await self.shadow.aclose()
        await self.parity.aclose()
        await self.state.aclose()
        await self.client.aclose()
        if self.access_log is not None:
            await self.access_log.aclose()
        if self.recorder is not None:
            await self.recorder.aclose()
        if self.identity is not None:
            await self.identity.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if not self._started:
                await self.startup()
            path: str = scope["path"]
            if path.startswith("/_strangler/") or path in _OWN_PATHS:
                return await self._own(scope, receive, send, path)
            return await self.proxy(scope, receive, send)
        if kind == "lifespan":
            return await self._lifespan(receive, send)
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})
            return None
        return None

    async def _own(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        if path == "/healthz":
            return await send_json(send, 200, {"status": "ok"})
        if path == "/readyz":
            snap = self.state.snapshot
            upstreams = {name: u.health() for name, u in snap.upstreams.items()}
            default = snap.table.default.config.upstream
            ready = bool(upstreams[default]["healthy"])
            body = {
                "status": "ready" if ready else "unavailable",
                "default_upstream": default,
                "route_table_version": snap.version,
                "upstreams": upstreams,
            }
            return await send_json(send, 200 if ready else 503, body)
        if path == "/metrics":
            return await send_bytes(send, 200, self.metrics.render(), CONTENT_TYPE.encode())
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return await self.admin(scope, receive, send)
        if is_page(path):
            return await serve_page(scope, send, path)
        return await send_problem(send, 404, f"no facade endpoint {path}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _make_client(settings: FacadeSettings) -> HttpClient:
    if settings.http_client == "aiohttp":
        from facade.client_aiohttp import AiohttpClient

        return AiohttpClient(settings.max_idle_connections)
    return NativeClient(settings.max_idle_connections)


def _make_recorder(settings: FacadeSettings) -> TrafficRecorder | None:
    if settings.record_file is None or settings.record_sample <= 0:
        return None
    return TrafficRecorder(
        settings.record_file, settings.record_sample, settings.record_methods.split(",")
    )


def create_app(settings: FacadeSettings | None = None, **kwargs: Any) -> Facade:
    return Facade(settings or FacadeSettings(), **kwargs)


class _LazyApp:
    """``uvicorn facade.app:app``: settings are read when the server first calls the app."""

    def __init__(self) -> None:
        self._app: Facade | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


app = _LazyApp()
