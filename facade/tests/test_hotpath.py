"""The hot path's shortcuts must behave like what they replace."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from facade.client import _Deadlines
from facade.config import RoutesConfig
from facade.errors import UpstreamTimeout
from facade.matching import RouteTable
from facade.metrics import _BUCKETS, Metrics
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


def _without_created(text: str) -> list[str]:
    return [line for line in text.splitlines() if "_created" not in line]


def test_request_metrics_render_like_prometheus_client() -> None:
    ours = Metrics()
    registry = CollectorRegistry()
    requests = Counter(
        "facade_requests",
        "Proxied requests by route, upstream that answered, mode and status.",
        ["route", "upstream", "mode", "status"],
        registry=registry,
    )
    latency = Histogram(
        "facade_request_duration_seconds",
        "Time to the last byte of the response, by route, upstream and mode.",
        ["route", "upstream", "mode"],
        buckets=_BUCKETS,
        registry=registry,
    )
    seen = [
        ("default", "monolith", "monolith", 200, 0.0004),
        ("default", "monolith", "monolith", 200, 0.001),  # on a bucket's bound: le is <=
        ("default", "monolith", "monolith", 502, 0.3),
        ("cart", "cart", "extracted", 200, 45.0),  # beyond the last bound: +Inf only
        ("cart", "monolith", "canary", 404, 0.0025),
    ]
    for route, upstream, mode, status, seconds in seen:
        ours.observe(route, upstream, mode, status, seconds)
        requests.labels(route, upstream, mode, str(status)).inc()
        latency.labels(route, upstream, mode).observe(seconds)
    reference = set(_without_created(generate_latest(registry).decode()))
    rendered = _without_created(ours.render().decode())
    assert reference <= set(rendered)
    created = [line for line in ours.render().decode().splitlines() if "_created{" in line]
    # one per counter series and one per histogram series, like prometheus-client
    assert len([c for c in created if c.startswith("facade_requests_created")]) == 4
    assert len([c for c in created if c.startswith("facade_request_duration_seconds_cr")]) == 3
    for line in created:
        assert abs(float(line.rsplit(" ", 1)[1]) - time.time()) < 60


def _table(routes: list[dict[str, object]]) -> RouteTable:
    return RouteTable.build(
        RoutesConfig.model_validate({"upstreams": _UPSTREAMS, "routes": routes})
    )


_UPSTREAMS = {
    "monolith": {"instances": ["http://127.0.0.1:1"]},
    "cat": {"instances": ["http://127.0.0.1:2"]},
}


def test_route_cache_gives_what_match_gives() -> None:
    table = _table(
        [
            {"id": "items", "path": "/items/{id:int}", "upstream": "cat", "methods": ["GET"]},
            {"id": "api", "path": "/api/**", "upstream": "cat"},
            {"id": "default", "path": "/**", "upstream": "monolith"},
        ]
    )
    for method, path in [
        ("GET", "/items/7"),
        ("POST", "/items/7"),
        ("GET", "/items/x"),
        ("GET", "/api"),
        ("DELETE", "/api/a/b"),
        ("GET", "/"),
    ]:
        for _ in range(2):  # the second time from the cache
            assert table.route(method, path).id == table.match(method, path)[0].id


def test_route_cache_not_used_with_header_conditions() -> None:
    table = _table(
        [
            {"id": "beta", "path": "/**", "upstream": "cat", "headers": {"X-Beta": "1"}},
            {"id": "default", "path": "/**", "upstream": "monolith"},
        ]
    )
    beta = {"x-beta": "1"}.get
    assert table.route("GET", "/a", beta).id == "beta"
    assert table.route("GET", "/a").id == "default"
    assert table.route("GET", "/a", beta).id == "beta"


def test_deadlines_expire_each_wait_on_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = _Deadlines(loop)
        long, short, done = loop.create_future(), loop.create_future(), loop.create_future()
        deadlines.add(long, 0.4, "long")
        deadlines.add(short, 0.05, "short")  # earlier than the armed timer: re-armed
        deadlines.add(done, 0.05, "done")
        done.set_result(None)
        deadlines.remove(done)
        started = loop.time()
        with pytest.raises(UpstreamTimeout, match="short"):
            await short
        assert 0.04 <= loop.time() - started < 0.3
        assert not long.done()
        deadlines.remove(short)
        with pytest.raises(UpstreamTimeout, match="long"):
            await long
        assert 0.35 <= loop.time() - started < 1.0
        deadlines.remove(long)

    asyncio.run(main())


def test_metric_label_names_are_unchanged() -> None:
    text = Metrics().render().decode()
    assert re.search(r"# TYPE facade_requests_total counter", text)
    assert re.search(r"# TYPE facade_request_duration_seconds histogram", text)
