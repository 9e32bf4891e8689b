"""Per request: the request id for the logs, a server span, an access log line, metrics.

``RequestTelemetryMiddleware`` runs first: the span covers every other middleware and the
view, and continues the caller's ``traceparent`` (the facade's span), so the outbox events
written in the request carry this trace (``shop.outbox.context.event_headers``).

Metrics are labelled by the resolved URL pattern's name (``api:product-detail``), never by
the raw path, whose ids would make one series per product. Under gunicorn every worker is
a process of its own: with ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn.conf.py sets it up)
prometheus-client's multiprocess mode adds the workers' counts up at scrape time.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from shop_telemetry import bind_request_id, context_from_traceparent

from shop.outbox.context import REQUEST_ID_RE

access_log = logging.getLogger("shop.access")
_tracer = trace.get_tracer("shop")

REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

UNMATCHED = "<unmatched>"


def route_name(request: HttpRequest) -> str:
    """The URL pattern's (namespaced) name, else its route string, else ``<unmatched>``."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return str(match.view_name or match.route or UNMATCHED)


class RequestTelemetryMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        method = request.method or "GET"
        started = time.perf_counter()
        status = 500
        with (
            bind_request_id(request_id),
            _tracer.start_as_current_span(
                method,
                context=context_from_traceparent(request.headers.get("traceparent")),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": request.path},
            ) as span,
        ):
            try:
                response = self.get_response(request)
                status = response.status_code
                return response
            finally:
                elapsed = time.perf_counter() - started
                route = route_name(request)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                REQUESTS.labels(method, route, str(status)).inc()
                LATENCY.labels(method, route).observe(elapsed)
                access_log.info(
                    "%s %s %s",
                    method,
                    request.path,
                    status,
                    extra={
                        "method": method,
                        "path": request.path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition: every gunicorn worker's series, added up."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
