"""The shared log format, the traceparent helpers and the ASGI middleware."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind
from shop_telemetry import (
    JsonFormatter,
    bind_request_id,
    configure_logging,
    context_from_traceparent,
    continue_trace,
    current_traceparent,
    logging_config,
    traceparent_of,
)
from shop_telemetry.asgi import TelemetryMiddleware
from shop_telemetry.logs import ConsoleFormatter
from shop_telemetry.testing import span_recorder

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose records come out through the JSON formatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("unit"))
    logger = logging.getLogger("shop_telemetry.tests")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_has_every_field_even_outside_requests_and_spans(lines) -> None:
    logger, stream = lines
    logger.warning("disk %s", "full", extra={"free_bytes": 0})
    (doc,) = records(stream)
    assert doc["level"] == "WARNING"
    assert doc["component"] == "unit"
    assert doc["logger"] == "shop_telemetry.tests"
    assert doc["message"] == "disk full"
    assert doc["free_bytes"] == 0
    assert doc["timestamp"].endswith("Z")
    assert "T" in doc["timestamp"]
    assert (doc["request_id"], doc["trace_id"], doc["span_id"]) == (None, None, None)


def test_inside_a_span_and_a_request_the_record_carries_their_ids(lines) -> None:
    logger, stream = lines
    recorder = span_recorder()
    with bind_request_id("req-1"), continue_trace(PARENT, "work") as span:
        logger.info("inside")
        here = current_traceparent()
    logger.info("after")
    inside, after = records(stream)
    (finished,) = recorder.get_finished_spans()
    assert inside["request_id"] == "req-1"
    assert inside["trace_id"] == TRACE
    assert inside["span_id"] == format(finished.context.span_id, "016x")
    assert finished.parent is not None
    assert finished.parent.span_id == 0x00F067AA0BA902B7
    assert here == traceparent_of(span) == f"00-{TRACE}-{inside['span_id']}-01"
    assert (after["request_id"], after["trace_id"]) == (None, None)


def test_exceptions_are_one_json_field(lines) -> None:
    logger, stream = lines
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    (doc,) = records(stream)
    assert "ValueError: bad" in doc["exception"]


@pytest.mark.parametrize("value", [None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"])
def test_a_missing_or_malformed_traceparent_starts_a_new_trace(value: str | None) -> None:
    span_recorder()
    with continue_trace(value, "root") as span:
        ctx = span.get_span_context()
    assert ctx.is_valid
    assert format(ctx.trace_id, "032x") != TRACE
    assert context_from_traceparent(value) == {}


def test_console_format_is_one_readable_line() -> None:
    record = logging.LogRecord("shop.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    with bind_request_id("r-9"), continue_trace(PARENT, "c"):
        line = ConsoleFormatter("monolith").format(record)
    assert line.endswith(f"INFO    monolith shop.x: hello you [req=r-9 trace={TRACE}]")


def test_third_party_loggers_lose_their_handlers_and_share_the_root_format() -> None:
    config = logging_config("unit", "debug", "json")
    assert config["root"]["level"] == "DEBUG"
    for name in ("uvicorn.error", "gunicorn.access", "celery", "django.request"):
        assert config["loggers"][name] == {"handlers": [], "propagate": True, "level": "NOTSET"}
    assert config["formatters"]["shop"]["fmt"] == "json"
    assert logging_config("unit", fmt="console")["formatters"]["shop"]["fmt"] == "console"


def test_configure_logging_in_a_process_prints_json_for_every_logger() -> None:
    code = (
        "import logging; from shop_telemetry import configure_logging;"
        "logging.getLogger('uvicorn.error').addHandler(logging.StreamHandler());"
        "configure_logging('proc');"
        "logging.getLogger('uvicorn.error').info('uv'); logging.getLogger('app').info('mine')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LOG_FORMAT": "", "LOG_LEVEL": "INFO"},
    ).stdout
    docs = [json.loads(line) for line in out.splitlines()]
    assert [(d["logger"], d["message"], d["component"]) for d in docs] == [
        ("uvicorn.error", "uv", "proc"),
        ("app", "mine", "proc"),
    ]


def test_service_name_comes_from_the_environment_else_the_component() -> None:
    code = (
        "from shop_telemetry import configure_tracing;"
        "p = configure_tracing('component');"
        "print(p.resource.attributes['service.name'])"
    )

    def name(**env: str) -> str:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**clean, **env},
        ).stdout.strip()

    assert name() == "component"
    assert name(OTEL_SERVICE_NAME="svc") == "svc"


def test_asgi_middleware_names_the_span_by_route_and_binds_the_request_id(lines) -> None:
    logger, stream = lines
    recorder = span_recorder()

    class Route:
        path = "/items/{item_id}"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = Route()
        logger.info("handling")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=TelemetryMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(
                "/items/7", headers={"traceparent": PARENT, "x-request-id": "abc"}
            )

    assert asyncio.run(call()).status_code == 200
    (doc,) = records(stream)
    (span,) = recorder.get_finished_spans()
    assert span.name == "GET /items/{item_id}"
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert doc["request_id"] == "abc"
    assert (doc["trace_id"], doc["span_id"]) == (TRACE, format(span.context.span_id, "016x"))


def test_configure_logging_applies_the_document() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("unit", "WARNING", "console")
        assert root.level == logging.WARNING
        assert isinstance(root.handlers[-1].formatter, ConsoleFormatter)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
