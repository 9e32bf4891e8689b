"""One log format for every component: JSON lines on stdout, or a console format locally.

Every record carries ``timestamp`` (ISO 8601, UTC), ``level``, ``component``, ``logger``,
``message``, ``request_id`` (set by the component's request middleware through
:func:`bind_request_id`) and ``trace_id``/``span_id`` (of the current OpenTelemetry span),
plus whatever the caller passed as ``extra``. Third-party loggers (uvicorn, gunicorn,
celery, django) have their own handlers removed and propagate to the root handler, so they
come out in the same format.

``LOG_FORMAT=console`` switches to a human format; anything else (and unset) is JSON, the
format a log pipeline can index by ``trace_id``.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from opentelemetry import trace

LogFormat = Literal["json", "console"]

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "shop_telemetry_request_id", default=None
)

# Loggers that install handlers of their own; routed to the root handler instead.
THIRD_PARTY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn",
    "gunicorn.error",
    "gunicorn.access",
    "celery",
    "celery.app.trace",
    "celery.worker",
    "celery.redirected",
    "kombu",
    "django",
    "django.request",
    "django.server",
    "django.db.backends",
)

# Attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def bind_request_id(value: str | None) -> Iterator[None]:
    """Every record logged in this block (and in tasks it starts) carries ``value``."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


def trace_ids() -> tuple[str | None, str | None]:
    """The current span's trace id and span id as lower-case hex, or (None, None)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = trace_ids()
        doc: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "component": self.component,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id.get(),
            "trace_id": trace_id,
            "span_id": span_id,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in doc and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(doc, default=repr).decode()


class ConsoleFormatter(logging.Formatter):
    """``12:00:01.234 INFO  monolith shop.access: GET /api/ 200 [req=ab12 trace=4bf9...]``."""

    def __init__(self, component: str) -> None:
        super().__init__(datefmt="%H:%M:%S")
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        trace_id, _ = trace_ids()
        stamp = f"{self.formatTime(record, self.datefmt)}.{int(record.msecs):03d}"
        line = (
            f"{stamp} {record.levelname:<7} {self.component} {record.name}: {record.getMessage()}"
        )
        ids = []
        if (rid := _request_id.get()) is not None:
            ids.append(f"req={rid}")
        if trace_id is not None:
            ids.append(f"trace={trace_id}")
        if ids:
            line += f" [{' '.join(ids)}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_format(value: str | None = None) -> LogFormat:
    raw = (value if value is not None else os.environ.get("LOG_FORMAT", "")).strip().lower()
    return "console" if raw == "console" else "json"


def make_formatter(component: str, fmt: str | None = None) -> logging.Formatter:
    """What ``dictConfig`` calls (``"()"``) to build the formatter of ``logging_config``."""
    if log_format(fmt) == "console":
        return ConsoleFormatter(component)
    return JsonFormatter(component)


def logging_config(
    component: str, level: str | int | None = None, fmt: str | None = None
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document; Django's ``LOGGING``, gunicorn's
    ``logconfig_dict`` and uvicorn's ``log_config`` take it as it is."""
    if level is None:
        level = os.environ.get("LOG_LEVEL") or "INFO"
    if isinstance(level, str):
        level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "shop": {
                "()": "shop_telemetry.logs.make_formatter",
                "component": component,
                "fmt": log_format(fmt),
            }
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "shop",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": "NOTSET"}
            for name in THIRD_PARTY_LOGGERS
        }
        # SQL statements only on request, whatever the root level.
        | {"django.db.backends": {"handlers": [], "propagate": True, "level": "INFO"}},
    }


def configure_logging(
    component: str, level: str | int | None = None, fmt: str | None = None
) -> None:
    """Send every logger of this process to stdout in the shared format.

    ``level`` defaults to ``LOG_LEVEL`` (else INFO), ``fmt`` to ``LOG_FORMAT`` (else json).
    """
    logging.config.dictConfig(logging_config(component, level, fmt))
