"""With spans exported, one SERVER span per proxied request, parent of the upstream's."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.trace import SpanKind
from shop_telemetry.testing import span_recorder

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def traced_facade(monolith, catalog, facade_factory, routes_doc):
    recorder = span_recorder()  # before the app: the proxy decides once whether it traces
    return recorder, facade_factory(routes_doc(monolith[1].url, catalog[1].url))


def test_the_upstream_is_told_the_facade_span_is_its_parent(traced_facade) -> None:
    recorder, facade = traced_facade
    incoming = f"00-{TRACE}-00f067aa0ba902b7-01"
    resp = httpx.get(facade.url + "/api/products/7/", headers={"traceparent": incoming})
    assert resp.status_code == 200, resp.text
    forwarded = next(v for k, v in resp.json()["headers"] if k == "traceparent")
    (span,) = [s for s in recorder.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert forwarded == f"00-{TRACE}-{span.context.span_id:016x}-01"
    assert span.parent is not None
    assert span.parent.span_id == 0x00F067AA0BA902B7
    assert span.name == "GET products"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["facade.upstream"] == "monolith"


def test_without_a_caller_trace_the_facade_span_starts_one(traced_facade) -> None:
    recorder, facade = traced_facade
    resp = httpx.get(facade.url + "/x")
    forwarded = next(v for k, v in resp.json()["headers"] if k == "traceparent")
    (span,) = [s for s in recorder.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.parent is None
    ids = f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-"
    assert forwarded.startswith(ids)
    assert int(forwarded[-2:], 16) & 1
