from __future__ import annotations

import random

import pytest
from facade.window import BOUNDS, WINDOW_SECONDS, RollingStats


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_counts_share_and_errors_per_side() -> None:
    clock = Clock()
    stats = RollingStats(clock)
    for status in (200, 200, 404, 500):
        stats.record("products", "monolith", status, 0.002, clock.now)
    for status in (200, 503, 502, 200, 200, 200):
        stats.record("products", "catalog", status, 0.004, clock.now)
    sides = stats.route("products", ("monolith", "catalog"))
    assert list(sides) == ["monolith", "catalog"]
    assert sides["monolith"]["requests"] == 4
    assert sides["monolith"]["errors"] == 1  # 404 is the client's problem, not an error
    assert sides["monolith"]["error_rate"] == 0.25
    assert sides["monolith"]["share"] == 0.4
    assert sides["catalog"]["requests"] == 6
    assert sides["catalog"]["errors"] == 2
    assert sides["catalog"]["share"] == 0.6


def test_idle_sides_are_present_with_zeros_and_other_sides_appear() -> None:
    clock = Clock()
    stats = RollingStats(clock)
    idle = stats.route("products", ("monolith", "catalog"))
    assert idle["catalog"] == {
        "requests": 0,
        "share": 0.0,
        "errors": 0,
        "error_rate": 0.0,
        "failovers": 0,
        "p50_ms": None,
        "p99_ms": None,
    }
    stats.record("products", "old-catalog", 200, 0.001, clock.now)
    assert list(stats.route("products", ("monolith", "catalog"))) == [
        "monolith",
        "catalog",
        "old-catalog",
    ]


def test_only_the_last_minute_counts() -> None:
    clock = Clock(5000.2)
    stats = RollingStats(clock)
    stats.record("r", "monolith", 200, 0.001, 5000.2)
    clock.now = 5030.0
    stats.record("r", "monolith", 500, 0.001, 5030.0)
    assert stats.route("r")["monolith"]["requests"] == 2
    clock.now = 5000.0 + WINDOW_SECONDS + 0.5  # the first second has left the window
    figures = stats.route("r")["monolith"]
    assert (figures["requests"], figures["errors"], figures["error_rate"]) == (1, 1, 1.0)
    clock.now = 5030.0 + WINDOW_SECONDS
    assert stats.route("r") == {}


def test_a_reused_slot_starts_from_zero() -> None:
    clock = Clock(100.0)
    stats = RollingStats(clock)
    for _ in range(10):
        stats.record("r", "monolith", 500, 2.0, 100.0)
    # 60 s later the same slot holds a new second: nothing of the old one may leak in
    clock.now = 100.0 + WINDOW_SECONDS
    stats.record("r", "monolith", 200, 0.001, clock.now)
    figures = stats.route("r")["monolith"]
    assert figures["requests"] == 1
    assert figures["errors"] == 0
    assert figures["p99_ms"] is not None
    assert figures["p99_ms"] < 2.0  # nothing of the old 2 s


def test_memory_stays_bounded_over_time() -> None:
    clock = Clock(0.0)
    stats = RollingStats(clock)
    for second in range(10 * WINDOW_SECONDS):
        stats.record("r", "monolith", 200, 0.001, second + 0.5)
    ring = stats._routes["r"]["monolith"]
    assert len(ring.stamps) == len(ring.requests) == WINDOW_SECONDS
    assert len(ring.latency) == WINDOW_SECONDS * (len(BOUNDS) + 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_are_close_to_the_exact_ones(seed: int) -> None:
    rng = random.Random(seed)
    clock = Clock(50.0)
    stats = RollingStats(clock)
    samples = [rng.lognormvariate(-5.0, 1.0) for _ in range(5000)]  # ~7 ms median
    for i, seconds in enumerate(samples):
        stats.record("r", "catalog", 200, seconds, 50.0 - (i % 30))
    samples.sort()
    figures = stats.route("r")["catalog"]
    exact_p50 = samples[len(samples) // 2] * 1000
    exact_p99 = samples[int(len(samples) * 0.99)] * 1000
    assert figures["p50_ms"] == pytest.approx(exact_p50, rel=0.1)
    assert figures["p99_ms"] == pytest.approx(exact_p99, rel=0.1)


def test_extreme_latencies_land_in_the_first_and_last_buckets() -> None:
    clock = Clock()
    stats = RollingStats(clock)
    stats.record("r", "a", 200, 0.0, clock.now)
    stats.record("r", "b", 504, 600.0, clock.now)
    sides = stats.route("r")
    assert 0 <= sides["a"]["p50_ms"] <= BOUNDS[0] * 1000
    assert sides["b"]["p99_ms"] == round(BOUNDS[-1] * 1000, 3)


def test_failovers_count_where_the_failure_happened() -> None:
    clock = Clock()
    stats = RollingStats(clock)
    stats.failover("products", "catalog", clock.now)
    stats.record("products", "monolith", 200, 0.001, clock.now)
    sides = stats.route("products", ("monolith", "catalog"))
    assert sides["catalog"]["failovers"] == 1
    assert sides["catalog"]["requests"] == 0
    assert sides["monolith"]["share"] == 1.0


def test_prune_forgets_removed_routes_once_their_window_is_empty() -> None:
    clock = Clock(10.0)
    stats = RollingStats(clock)
    stats.record("gone", "monolith", 200, 0.001, clock.now)
    stats.record("kept", "monolith", 200, 0.001, clock.now)
    stats.prune({"kept"})
    assert "gone" in stats._routes  # still has data in the window
    clock.now += WINDOW_SECONDS + 1
    stats.prune({"kept"})
    assert set(stats._routes) == {"kept"}
