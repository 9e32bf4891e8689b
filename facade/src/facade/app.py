"""The facade's ASGI application: own endpoints, admin API, everything else proxied."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from facade.accesslog import AccessLog
from facade.admin import PREFIX, AdminAPI
from facade.client import HttpClient, NativeClient
from facade.metrics import CONTENT_TYPE, Metrics
from facade.problem import send_bytes, send_json, send_problem
from facade.proxy import Proxy
from facade.settings import FacadeSettings
from facade.shadow import ComparisonSink, ShadowQueue, StatusMatchSink
from facade.state import RouteState, log_event
from facade.types import Receive, Scope, Send


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
        self.shadow = ShadowQueue(
            self.client,
            self.metrics,
            sinks if sinks is not None else [StatusMatchSink(self.metrics)],
            size=settings.shadow_queue_size,
            workers=settings.shadow_workers,
            timeout=settings.shadow_timeout,
            max_body=settings.shadow_max_body_bytes,
        )
        self.access_log = AccessLog() if settings.access_log else None
        self.proxy = Proxy(
            settings, self.state, self.client, self.metrics, self.shadow, self.access_log
        )
        self.admin = AdminAPI(settings, self.state, self.shadow)
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
            self.shadow.start()
            if self.access_log is not None:
                self.access_log.start()
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

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.shadow.aclose()
        await self.state.aclose()
        await self.client.aclose()
        if self.access_log is not None:
            await self.access_log.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if not self._started:
                await self.startup()
            path: str = scope["path"]
            if path.startswith("/_strangler/") or path in ("/healthz", "/readyz", "/metrics"):
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
