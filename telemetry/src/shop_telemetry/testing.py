"""For tests: every span this process ends, in memory.

The tracer provider is process-wide and set once, so the recorder is too: the first call
installs it (tracing then counts as exported for code that checks ``exporting()``), later
calls clear and return the same one.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shop_telemetry.tracing import configure_tracing

_recorder: InMemorySpanExporter | None = None


def span_recorder() -> InMemorySpanExporter:
    global _recorder
    if _recorder is None:
        _recorder = InMemorySpanExporter()
        configure_tracing("tests", processor=SimpleSpanProcessor(_recorder))
    _recorder.clear()
    return _recorder


def spans_named(recorder: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in recorder.get_finished_spans() if s.name.startswith(prefix)]
