"""One SERVER span per proxied request, only while spans are exported.

Without an exporter the proxy keeps its own traceparent handling (``_headers.traceparent``:
two slices of pre-generated random hex) and never touches OpenTelemetry, so the hot path is
what the benchmark measured. With one, the span continues the caller's traceparent and the
upstream is told this span is its parent.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from shop_telemetry import context_from_traceparent, exporting, traceparent_of

from facade._headers import traceparent


class RequestTracer:
    def __init__(self) -> None:
        self._tracer = trace.get_tracer("facade")

    def start(self, incoming: bytes | None, method: str, path: str) -> tuple[Span, bytes]:
        """The request's span and the traceparent to forward (naming that span)."""
        span = self._tracer.start_span(
            method,
            context=context_from_traceparent(incoming),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        )
        forwarded = traceparent_of(span)
        return span, forwarded.encode() if forwarded else traceparent(incoming)

    @staticmethod
    def end(span: Span, method: str, route: str, upstream: str, status: int) -> None:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("facade.upstream", upstream)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()


def request_tracer() -> RequestTracer | None:
    """A tracer for the proxy when spans leave the process, else None (tracing off)."""
    return RequestTracer() if exporting() else None
