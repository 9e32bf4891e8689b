"""Saga metrics: sagas by outcome, participant step latency, sagas in flight."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SagaMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.outcomes = Counter(
            "orders_sagas_total", "Checkout sagas that reached an outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.step_latency = Histogram(
            "orders_saga_step_seconds", "Latency of one saga step's participant call",
            ["step", "result"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.in_flight = Gauge(
            "orders_sagas_in_flight", "Sagas not finished (running or compensating)",
            registry=self.registry,
        )  # fmt: skip

    def count_in_flight_with(self, count: Callable[[], int]) -> None:
        def safe() -> float:
            try:
                return float(count())
            except Exception:  # the database is down: no number rather than a failed scrape
                return float("nan")

        self.in_flight.set_function(safe)
