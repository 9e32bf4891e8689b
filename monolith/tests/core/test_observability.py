"""Each request: a server span continuing the caller's trace, a JSON access line with the
request and trace ids, metrics by URL pattern name; the outbox event joins the trace."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from opentelemetry.trace import SpanKind
from shop_telemetry import JsonFormatter
from shop_telemetry.testing import span_recorder

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """The access logger's records, formatted as the running shop formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("monolith"))
    logger = logging.getLogger("shop.access")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def last_event_headers() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute("SELECT headers FROM outbox ORDER BY id DESC LIMIT 1")
        raw = cur.fetchone()[0]
    return json.loads(raw) if isinstance(raw, str) else raw


@pytest.mark.django_db
def test_a_request_is_one_server_span_one_access_line_and_its_event_joins_the_trace(
    staff_api, product, access_lines
) -> None:
    recorder = span_recorder()
    response = staff_api.patch(
        f"/api/products/{product.pk}/", {"price": "4.20"}, format="json",
        HTTP_TRACEPARENT=TRACEPARENT, HTTP_X_REQUEST_ID="req-42",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    (span,) = [s for s in recorder.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.name == "PATCH api:product-detail"
    assert span.parent is not None
    assert span.parent.span_id == 0x00F067AA0BA902B7
    assert format(span.context.trace_id, "032x") == TRACE
    span_id = format(span.context.span_id, "016x")

    (line,) = [json.loads(x) for x in access_lines.getvalue().splitlines()]
    assert line["message"] == f"PATCH /api/products/{product.pk}/ 200"
    assert (line["component"], line["logger"], line["level"]) == ("monolith", "shop.access", "INFO")
    assert (line["request_id"], line["trace_id"], line["span_id"]) == ("req-42", TRACE, span_id)
    assert (line["route"], line["status"]) == ("api:product-detail", 200)

    # The relay and the consumers continue from the shop's span, not the caller's.
    assert last_event_headers()["traceparent"] == f"00-{TRACE}-{span_id}-01"


@pytest.mark.django_db
def test_without_a_caller_trace_the_request_starts_one_and_makes_a_request_id(
    client, access_lines
) -> None:
    span_recorder()
    assert client.get("/healthz").status_code == 200
    (line,) = [json.loads(x) for x in access_lines.getvalue().splitlines()]
    assert len(line["request_id"]) == 32
    assert line["trace_id"]
    assert line["span_id"]
    assert line["trace_id"] != TRACE


@pytest.mark.django_db
def test_metrics_count_requests_by_url_pattern_name_and_status(client, product) -> None:
    def count(route: str, status: str) -> float:
        text = client.get("/metrics").content.decode()
        wanted = f'http_requests_total{{method="GET",route="{route}",status="{status}"}} '
        found = [ln for ln in text.splitlines() if ln.startswith(wanted)]
        return float(found[0].rsplit(" ", 1)[1]) if found else 0.0

    before = count("api:product-detail", "200"), count("api:product-detail", "404")
    client.get(f"/api/products/{product.pk}/")
    client.get(f"/api/products/{product.pk}/")
    client.get("/api/products/999999/")
    assert count("api:product-detail", "200") == before[0] + 2
    assert count("api:product-detail", "404") == before[1] + 1
    text = client.get("/metrics").content.decode()
    assert f"/api/products/{product.pk}/" not in text  # no raw paths as labels
    unmatched = count("<unmatched>", "404")
    assert client.get("/no/such/page").status_code == 404
    assert count("<unmatched>", "404") == unmatched + 1
