"""Prometheus metrics, one registry per app; label children cached off the hot path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "facade_requests",
            "Proxied requests by route, upstream that answered, mode and status.",
            ["route", "upstream", "mode", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "facade_request_duration_seconds",
            "Time to the last byte of the response, by route, upstream and mode.",
            ["route", "upstream", "mode"],
            buckets=_BUCKETS,
            registry=r,
        )
        # In-flight counts are plain ints read at scrape time: no lock on the hot path.
        self.in_flight_count = 0
        self.in_flight = Gauge("facade_in_flight_requests", "Requests being proxied.", registry=r)
        self.in_flight.set_function(lambda: self.in_flight_count)
        self.upstream_in_flight = Gauge(
            "facade_upstream_in_flight",
            "Requests in flight per upstream.",
            ["upstream"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "facade_breaker_state",
            "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "facade_breaker_transitions",
            "Breaker state changes per upstream and new state.",
            ["upstream", "state"],
            registry=r,
        )
        self.fallbacks = Counter(
            "facade_fallbacks",
            "Requests answered by the fallback upstream, by route and reason.",
            ["route", "from_upstream", "to_upstream", "reason"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "facade_upstream_errors",
            "Upstream failures by kind: connect, timeout, disconnect, 5xx, breaker_open, bulkhead.",
            ["upstream", "kind"],
            registry=r,
        )
        self.retries = Counter(
            "facade_retries", "Connect retries on another instance.", ["upstream"], registry=r
        )
        self.ejections = Counter(
            "facade_instance_ejections", "Instances ejected.", ["upstream"], registry=r
        )
        self.shadow = Counter(
            "facade_shadow_requests",
            "Shadow copies by route and outcome (mirrored, dropped, skipped, completed, failed).",
            ["route", "outcome"],
            registry=r,
        )
        self.shadow_status_match = Counter(
            "facade_shadow_status_match",
            "Completed shadow copies by route and whether the status codes matched.",
            ["route", "match"],
            registry=r,
        )
        self.shadow_queue = Gauge(
            "facade_shadow_queue_depth", "Shadow copies waiting to be sent.", registry=r
        )
        self.config_version = Gauge(
            "facade_route_table_version", "Version of the route table in use.", registry=r
        )
        self.config_changes = Counter(
            "facade_route_table_changes",
            "Route table changes by source and result (applied, refused).",
            ["source", "result"],
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def observe(self, route: str, upstream: str, mode: str, status: int, seconds: float) -> None:
        key = (route, upstream, mode, status)
        pair = self._children.get(key)
        if pair is None:
            pair = (
                self.requests.labels(route, upstream, mode, str(status)),
                self.latency.labels(route, upstream, mode),
            )
            self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def track_upstream(self, name: str, read: Callable[[], float]) -> None:
        self.upstream_in_flight.labels(name).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
