"""Telemetry shared by every component: JSON logs with request and trace ids, and
OpenTelemetry tracing over OTLP/HTTP. No web framework, no component imports.

    configure_logging("monolith")      # LOG_FORMAT=json|console, LOG_LEVEL
    configure_tracing("monolith")      # OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME
"""

from shop_telemetry.logs import (
    ConsoleFormatter,
    JsonFormatter,
    bind_request_id,
    configure_logging,
    current_request_id,
    logging_config,
    trace_ids,
)
from shop_telemetry.tracing import (
    configure_tracing,
    context_from_traceparent,
    continue_trace,
    current_traceparent,
    exporting,
    flush_tracing,
    shutdown_tracing,
    traceparent_of,
    tracer,
)

__all__ = [
    "ConsoleFormatter",
    "JsonFormatter",
    "bind_request_id",
    "configure_logging",
    "configure_tracing",
    "context_from_traceparent",
    "continue_trace",
    "current_request_id",
    "current_traceparent",
    "exporting",
    "flush_tracing",
    "logging_config",
    "shutdown_tracing",
    "trace_ids",
    "traceparent_of",
    "tracer",
]
