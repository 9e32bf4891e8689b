"""Where an event came from: the request's trace context and a causation id.

``TraceContextMiddleware`` puts the incoming W3C ``traceparent`` header (when well formed)
and a causation id (``X-Request-ID`` when given, otherwise a fresh one per request) into
context variables; the outbox writer stamps them on every event of that request. Outside a
request (management commands, shell) the traceparent is absent and each service call gets
its own causation id.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from shop_telemetry import current_traceparent

TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

ORIGIN = "monolith"
# The origin the catalog sync consumer marks its transactions with (never recorded).
SYNC_ORIGIN = "sync:catalog"
# The origin the orders sync consumer marks its transactions with (never recorded).
ORDERS_SYNC_ORIGIN = "sync:orders"

traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "shop_traceparent", default=None
)
causation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "shop_causation_id", default=None
)


def valid_traceparent(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if not TRACEPARENT_RE.fullmatch(value) or value.startswith("ff"):
        return None
    _, trace_id, parent_id, _ = value.split("-")
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return value


def event_headers() -> dict[str, str]:
    """The headers for events written now; a transaction's origin mark overrides ``origin``.

    The traceparent is the current span's (the request's server span, or a span a command
    opened), so the relay and the consumers join the trace as its children; without
    tracing, the caller's traceparent as it came in.
    """
    headers = {"origin": ORIGIN, "causation_id": causation_id.get() or str(uuid.uuid4())}
    parent = current_traceparent() or traceparent.get()
    if parent:
        headers["traceparent"] = parent
    return headers


class TraceContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.headers.get("X-Request-ID", "")
        tokens = (
            traceparent.set(valid_traceparent(request.headers.get("traceparent"))),
            causation_id.set(
                request_id if REQUEST_ID_RE.fullmatch(request_id) else str(uuid.uuid4())
            ),
        )
        try:
            return self.get_response(request)
        finally:
            traceparent.reset(tokens[0])
            causation_id.reset(tokens[1])
