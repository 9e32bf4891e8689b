"""Pure ASGI middleware: the request id for the logs and one server span per request.

Framework-free (no Starlette import): the span is named after the route template the
framework leaves in ``scope["route"]`` (FastAPI and Starlette do), never the raw path.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from shop_telemetry.logs import bind_request_id
from shop_telemetry.tracing import context_from_traceparent

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_REQUEST_ID = 128


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def route_template(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else "<unmatched>"


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, *, tracer_name: str = "shop_telemetry.asgi") -> None:
        self.app = app
        self.tracer = trace.get_tracer(tracer_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and len(incoming) <= MAX_REQUEST_ID else uuid.uuid4().hex
        method: str = scope["method"]
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        parent = context_from_traceparent(_header(scope, b"traceparent"))
        with (
            bind_request_id(request_id),
            self.tracer.start_as_current_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": scope["path"]},
            ) as span,
        ):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
