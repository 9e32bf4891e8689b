"""Prometheus metrics, one registry per app.

The two per-request series (``facade_requests`` and ``facade_request_duration_seconds``)
are plain counters kept by the facade and turned into metric families at scrape time:
one dict lookup and a few additions per request instead of prometheus-client's locked
child values. Their names, labels, buckets and ``_created`` samples are the ones a
prometheus-client ``Counter`` and ``Histogram`` would expose. Everything else (rare
events) stays a prometheus-client metric.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LE = (*(repr(b) for b in _BUCKETS), "+Inf")  # as prometheus-client spells them: 0.001, 1.0
_REQUESTS_HELP = "Proxied requests by route, upstream that answered, mode and status."
_LATENCY_HELP = "Time to the last byte of the response, by route, upstream and mode."


class _Series:
    """One label set's values: a request count, or a histogram (bucket counts, sum)."""

    __slots__ = ("buckets", "count", "created", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(_BUCKETS) + 1)  # per bucket, not cumulative; last: +Inf
        self.created = time.time()


class _Traffic(Collector):
    """``facade_requests`` and ``facade_request_duration_seconds``, rendered at scrape."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], _Series] = {}
        self.latency: dict[tuple[str, str, str], _Series] = {}
        # (route, upstream, mode, status) -> its request counter and its histogram
        self.by_key: dict[tuple[str, str, str, int], tuple[_Series, _Series]] = {}

    def pair(self, route: str, upstream: str, mode: str, status: int) -> tuple[_Series, _Series]:
        key = (route, upstream, mode, status)
        pair = self.by_key.get(key)
        if pair is None:
            counter = self.requests.setdefault((route, upstream, mode, str(status)), _Series())
            histogram = self.latency.setdefault((route, upstream, mode), _Series())
            pair = self.by_key[key] = (counter, histogram)
        return pair

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "facade_requests", _REQUESTS_HELP, labels=("route", "upstream", "mode", "status")
        )
        for labels, series in list(self.requests.items()):
            requests.add_metric(labels, series.count, created=series.created)
        yield requests
        latency = HistogramMetricFamily(
            "facade_request_duration_seconds",
            _LATENCY_HELP,
            labels=("route", "upstream", "mode"),
        )
        for names, series in list(self.latency.items()):
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for le, count in zip(_LE, series.buckets, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            latency.add_metric(names, buckets, series.sum, timestamp=None)
            # HistogramMetricFamily has no ``created``: add the sample a Histogram exposes.
            latency.add_sample(
                "facade_request_duration_seconds_created",
                dict(zip(("route", "upstream", "mode"), names, strict=True)),
                series.created,
            )
        yield latency


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.traffic = _Traffic()
        r.register(self.traffic)
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
        # Parity (facade.parity): match rate = matched / compared; top fields come from
        # parity.ParityCollector (bounded), never as a label per JSON path.
        self.parity_compared = Counter(
            "facade_parity_compared", "Shadow answers compared, per route.", ["route"], registry=r
        )
        self.parity_matched = Counter(
            "facade_parity_matched",
            "Compared shadow answers that matched (noise aside), per route.",
            ["route"],
            registry=r,
        )
        self.parity_mismatched = Counter(
            "facade_parity_mismatched",
            "Compared shadow answers with differences, per route.",
            ["route"],
            registry=r,
        )
        self.parity_candidate_errors = Counter(
            "facade_parity_candidate_errors",
            "Shadow copies the candidate did not answer (or did not confirm as a dry run).",
            ["route"],
            registry=r,
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
        self._by_key = self.traffic.by_key

    def observe(self, route: str, upstream: str, mode: str, status: int, seconds: float) -> None:
        pair = self._by_key.get((route, upstream, mode, status))
        if pair is None:
            pair = self.traffic.pair(route, upstream, mode, status)
        pair[0].count += 1
        histogram = pair[1]
        histogram.count += 1
        histogram.sum += seconds
        histogram.buckets[bisect_left(_BUCKETS, seconds)] += 1

    def track_upstream(self, name: str, read: Callable[[], float]) -> None:
        self.upstream_in_flight.labels(name).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
