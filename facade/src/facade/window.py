"""Rolling per-route, per-side traffic stats over the last minute, for the dashboard.

Per (route, side), where the side is the upstream that answered, one ring of
``WINDOW_SECONDS`` per-second slots: requests, errors, failovers and a fixed-bucket
latency histogram. A slot is reset lazily by the first request of a new second, so
memory is bounded by routes x sides and recording is a few list writes: no locks (one
event loop), no allocation once a ring exists.

Percentiles come from the merged histogram with linear interpolation inside a bucket.
The buckets grow by 25% from 0.1 ms to 60 s, so a percentile is within a few percent of
the exact figure: plenty for a dashboard, far cheaper than keeping samples.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

WINDOW_SECONDS = 60


def _bounds() -> tuple[float, ...]:
    out = [0.0001]
    while out[-1] < 60.0:
        out.append(out[-1] * 1.25)
    return tuple(out)


BOUNDS = _bounds()
"""Upper bounds (seconds) of the latency buckets; one more bucket holds the rest."""
_BUCKETS = len(BOUNDS) + 1
_ZEROS = (0,) * _BUCKETS


class _Ring:
    """One route/side: ``WINDOW_SECONDS`` slots, each stamped with the second it holds."""

    __slots__ = ("errors", "failovers", "latency", "requests", "stamps")

    def __init__(self) -> None:
        self.stamps = [-1] * WINDOW_SECONDS
        self.requests = [0] * WINDOW_SECONDS
        self.errors = [0] * WINDOW_SECONDS
        self.failovers = [0] * WINDOW_SECONDS
        self.latency = [0] * (WINDOW_SECONDS * _BUCKETS)

    def reset(self, index: int, second: int) -> None:
        self.stamps[index] = second
        self.requests[index] = 0
        self.errors[index] = 0
        self.failovers[index] = 0
        start = index * _BUCKETS
        self.latency[start : start + _BUCKETS] = _ZEROS


class RollingStats:
    """Record answered requests; read per-route, per-side figures for the last minute.

    ``now`` is ``time.perf_counter()`` (the proxy has it already: no extra clock call);
    ``clock`` is what reads use, the same clock unless a test gives another.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._routes: dict[str, dict[str, _Ring]] = {}

    def record(self, route: str, side: str, status: int, seconds: float, now: float) -> None:
        """One response from ``side``; a 5xx (the facade's own 502/503/504 too) is an error."""
        sides = self._routes.get(route)
        if sides is None:
            sides = self._routes[route] = {}
        ring = sides.get(side)
        if ring is None:
            ring = sides[side] = _Ring()
        second = int(now)
        index = second % WINDOW_SECONDS
        if ring.stamps[index] != second:  # once a second: the slot held an older second
            ring.reset(index, second)
        ring.requests[index] += 1
        if status >= 500:
            ring.errors[index] += 1
        ring.latency[index * _BUCKETS + bisect_left(BOUNDS, seconds)] += 1

    def failover(self, route: str, side: str, now: float) -> None:
        """``side`` failed and another upstream answered in its place (counted where it failed)."""
        sides = self._routes.setdefault(route, {})
        ring = sides.get(side)
        if ring is None:
            ring = sides[side] = _Ring()
        second = int(now)
        index = second % WINDOW_SECONDS
        if ring.stamps[index] != second:
            ring.reset(index, second)
        ring.failovers[index] += 1

    def route(
        self, route: str, sides: tuple[str, ...] = (), seconds: int = WINDOW_SECONDS
    ) -> dict[str, dict[str, Any]]:
        """``{side: {requests, share, errors, error_rate, failovers, p50_ms, p99_ms}}``.

        Over the last ``seconds`` (at most the window). ``sides`` are always present
        (zeros when idle); any other side that answered within the window is added.
        """
        current = int(self._clock())
        oldest = current - max(1, min(seconds, WINDOW_SECONDS))
        rings = self._routes.get(route, {})
        names = list(dict.fromkeys((*sides, *rings)))
        figures: dict[str, tuple[int, int, int, list[int]]] = {}
        for name in names:
            ring = rings.get(name)
            requests = errors = failovers = 0
            histogram = [0] * _BUCKETS
            if ring is not None:
                for index, stamp in enumerate(ring.stamps):
                    if not oldest < stamp <= current:
                        continue
                    requests += ring.requests[index]
                    errors += ring.errors[index]
                    failovers += ring.failovers[index]
                    start = index * _BUCKETS
                    for bucket, count in enumerate(ring.latency[start : start + _BUCKETS]):
                        histogram[bucket] += count
            if name in sides or requests or failovers:
                figures[name] = (requests, errors, failovers, histogram)
        total = sum(f[0] for f in figures.values())
        return {
            name: {
                "requests": requests,
                "share": round(requests / total, 4) if total else 0.0,
                "errors": errors,
                "error_rate": round(errors / requests, 4) if requests else 0.0,
                "failovers": failovers,
                "p50_ms": _percentile_ms(histogram, requests, 0.50),
                "p99_ms": _percentile_ms(histogram, requests, 0.99),
            }
            for name, (requests, errors, failovers, histogram) in figures.items()
        }

    def prune(self, keep: set[str]) -> None:
        """Forget routes no longer in the table once nothing of theirs is left in the window."""
        oldest = int(self._clock()) - WINDOW_SECONDS
        for route in [r for r in self._routes if r not in keep]:
            sides = self._routes[route]
            if all(stamp <= oldest for ring in sides.values() for stamp in ring.stamps):
                del self._routes[route]


def _percentile_ms(histogram: list[int], total: int, q: float) -> float | None:
    if not total:
        return None
    rank = q * total
    seen = 0
    for bucket, count in enumerate(histogram):
        if count and seen + count >= rank:
            if bucket >= len(BOUNDS):
                return round(BOUNDS[-1] * 1000, 3)
            low = BOUNDS[bucket - 1] if bucket else 0.0
            high = BOUNDS[bucket]
            return round((low + (high - low) * (rank - seen) / count) * 1000, 3)
        seen += count
    return round(BOUNDS[-1] * 1000, 3)
