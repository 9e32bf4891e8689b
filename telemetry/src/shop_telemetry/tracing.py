"""OpenTelemetry tracing, set up once per process, and W3C ``traceparent`` helpers.

``configure_tracing`` always installs the SDK's tracer provider, so a component continues
the trace it is called in and its logs carry the trace id even when nothing is exported.
Spans are exported only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: OTLP over HTTP with
protobuf (``http://collector:4318``), batched by a background thread and flushed at exit.
HTTP rather than gRPC: no grpcio (a large native dependency that needs care around
``fork``, which gunicorn and Celery do), and Jaeger and every collector accept it.

Without an exporter a span costs a few microseconds (ids, a context switch, no I/O); the
components whose spans would only feed an exporter (the facade's hot path, the relay)
check :func:`exporting` and create none. ``OTEL_SDK_DISABLED=true`` turns tracing off.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_exporting = False
_shut_down = False


def _disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def configure_tracing(
    component: str,
    *,
    exporter: SpanExporter | None = None,
    processor: SpanProcessor | None = None,
) -> TracerProvider | None:
    """Install the tracer provider of this process (once; later calls add processors).

    The service name is ``OTEL_SERVICE_NAME``, else ``component``. ``exporter`` (tests)
    replaces the OTLP exporter; ``processor`` is added as given (e.g. a simple processor
    over an in-memory exporter).
    """
    global _provider, _exporting
    if _disabled():
        return None
    if _provider is None:
        service = os.environ.get("OTEL_SERVICE_NAME") or component
        _provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service}), shutdown_on_exit=False
        )
        trace.set_tracer_provider(_provider)
        # Registered after the provider: atexit runs last-in first-out, so spans ended by
        # other exit handlers still make it out.
        atexit.register(shutdown_tracing)
        if exporter is None and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint + /v1/traces, headers, timeout: OTEL_*
    if exporter is not None:
        _provider.add_span_processor(BatchSpanProcessor(exporter))
        _exporting = True
    if processor is not None:
        _provider.add_span_processor(processor)
        _exporting = True
    return _provider


def exporting() -> bool:
    """Whether spans leave this process (an exporter or processor is installed)."""
    return _exporting


def shutdown_tracing() -> None:
    """Flush the spans still queued and stop the exporter (at exit; idempotent)."""
    global _exporting, _shut_down
    if _provider is not None and not _shut_down:
        _shut_down = True
        _provider.shutdown()
    _exporting = False


def flush_tracing(timeout_millis: int = 30_000) -> bool:
    return _provider.force_flush(timeout_millis) if _provider is not None else True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def context_from_traceparent(traceparent: str | bytes | None) -> Context:
    """A context whose current span is the remote parent ``traceparent`` names.

    Malformed or missing: an empty context, so a span started in it begins a new trace.
    """
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode("latin-1")
    if not traceparent:
        return Context()
    return _propagator.extract({"traceparent": traceparent}, context=Context())


def traceparent_of(span: Span) -> str | None:
    """``00-<trace id>-<span id>-<flags>`` of ``span``; None for an invalid span."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_traceparent() -> str | None:
    """The traceparent of the current span, for anything that leaves this process (an
    outbox event, an outgoing call); None outside any span."""
    return traceparent_of(trace.get_current_span())


@contextmanager
def continue_trace(
    traceparent: str | bytes | None,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    tracer_name: str = "shop_telemetry",
) -> Iterator[Span]:
    """A current span that is a child of ``traceparent`` (a new trace if it is absent)."""
    with trace.get_tracer(tracer_name).start_as_current_span(
        name, context=context_from_traceparent(traceparent), kind=kind, attributes=attributes
    ) as span:
        yield span
