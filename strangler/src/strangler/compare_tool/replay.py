"""Send each recorded request to both sides and compare the answers as the facade would.

Each request is matched to its route with the facade's own ``RouteTable`` and compared
with that route's ``compare:`` rules (``rules_from_config`` builds them exactly as the
facade's parity sink does). Noise is learned Diffy's way: for the first N safe requests of
each route the primary is asked twice, and the fields where its two answers differ stop
counting against the candidate.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpx
from facade.compare import (
    CompareRules,
    Comparison,
    NoiseModel,
    Observed,
    compare,
    learn_noise,
)
from facade.config import SAFE_METHODS, CompareConfig, RoutesConfig
from facade.matching import RouteTable

from strangler.compare_tool.traffic import TrafficRequest

UNROUTED = "(unrouted)"
"""The route of requests without one when no routes file is given."""
Progress = Callable[[int, int], None]
"""Told ``(done, total)`` as requests finish."""
_T = TypeVar("_T")


class SideError(ValueError):
    """A side that cannot be used: a bad URL or nothing answering there."""


def rules_kwargs(config: CompareConfig) -> dict[str, Any]:
    """A route's ``compare:`` block as ``CompareRules.build`` arguments (plain data)."""
    return {
        "headers": list(config.headers),
        "ignore": list(config.ignore),
        "tolerance": config.tolerance.model_dump() if config.tolerance else None,
        "unordered": [u.model_dump() for u in config.unordered],
        "normalisers": [n.model_dump() for n in config.normalisers],
        "mask": list(config.pii),
    }


def rules_from_config(config: CompareConfig) -> CompareRules:
    """The rules the facade's parity sink builds from the same block."""
    return CompareRules.build(**rules_kwargs(config))


@dataclass(frozen=True, slots=True)
class RouteRules:
    route_id: str
    config: CompareConfig
    rules: CompareRules


class RuleBook:
    """Which route a request belongs to and how that route compares."""

    def __init__(self, routes: RoutesConfig | None = None) -> None:
        self.table = RouteTable.build(routes) if routes is not None else None
        self._default = CompareConfig()
        self._built: dict[str, RouteRules] = {}

    def for_request(self, request: TrafficRequest) -> RouteRules:
        if self.table is None:
            return self._rules(request.route or UNROUTED, self._default)
        headers = request.headers
        # The facade matches on the decoded path (ASGI's scope["path"]).
        route = self.table.route(request.method, unquote(request.path_only), headers.get)
        return self._rules(route.id, route.config.compare)

    def _rules(self, route_id: str, config: CompareConfig) -> RouteRules:
        built = self._built.get(route_id)
        if built is None:
            built = RouteRules(route_id, config, rules_from_config(config))
            self._built[route_id] = built
        return built


@dataclass(slots=True)
class Outcome:
    index: int
    request: TrafficRequest
    route: RouteRules
    primary: Observed | None = None
    candidate: Observed | None = None
    error: str | None = None
    comparison: Comparison | None = None

    @property
    def matched(self) -> bool:
        return self.error is None and self.comparison is not None and self.comparison.matched


@dataclass(slots=True)
class RouteSummary:
    route_id: str
    requests: int = 0
    matched: int = 0
    mismatched: int = 0
    errors: int = 0
    fields: Counter[str] = field(default_factory=Counter)
    noise: set[str] = field(default_factory=set)

    @property
    def match_rate(self) -> float | None:
        compared = self.matched + self.mismatched
        return self.matched / compared if compared else None

    def top_fields(self, n: int = 3) -> list[tuple[str, int]]:
        return sorted(self.fields.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


@dataclass(slots=True)
class ReplayReport:
    primary_url: str
    candidate_url: str
    routes: dict[str, RouteSummary]
    mismatches: list[Outcome]
    errors: list[Outcome]
    noise: dict[str, frozenset[str]]

    @property
    def total(self) -> int:
        return sum(r.requests for r in self.routes.values())

    @property
    def all_matched(self) -> bool:
        return not self.mismatches and not self.errors


def check_side(name: str, url: str, timeout: float = 5.0) -> str:
    """The side's origin, once something answers HTTP there; SideError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SideError(f"{name} URL {url!r} must be an http:// or https:// URL with a host")
    base = url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            client.get(base + "/")
    except httpx.HTTPError as exc:
        raise SideError(f"{name} {base} is unreachable ({type(exc).__name__}: {exc})") from None
    return base


async def replay(
    requests: Sequence[TrafficRequest],
    primary_url: str,
    candidate_url: str,
    book: RuleBook,
    *,
    concurrency: int = 8,
    timeout: float = 30.0,
    sample_noise: int = 0,
    progress: Progress | None = None,
) -> ReplayReport:
    primary_url, candidate_url = primary_url.rstrip("/"), candidate_url.rstrip("/")
    outcomes = [Outcome(i, r, book.for_request(r)) for i, r in enumerate(requests)]
    noise_sample = _noise_sample(outcomes, sample_noise)
    total = len(outcomes) + len(noise_sample)
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    learned: dict[str, set[str]] = {}
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, trust_env=False, limits=limits
    ) as client:

        async def learn(outcome: Outcome) -> None:
            answers: tuple[Observed | BaseException, ...] = await asyncio.gather(
                _observe(client, primary_url, outcome.request, "primary"),
                _observe(client, primary_url, outcome.request, "primary"),
                return_exceptions=True,
            )
            first, second = answers
            # A failure here is reported by the main pass; this one only learns.
            if isinstance(first, Observed) and isinstance(second, Observed):
                fields = learn_noise(first, second, outcome.route.rules)
                learned.setdefault(outcome.route.route_id, set()).update(fields)
            advance()

        await _pool(noise_sample, learn, concurrency)
        noise = {route: frozenset(fields) for route, fields in learned.items() if fields}
        models = {route: NoiseModel(fields) for route, fields in noise.items()}

        async def run(outcome: Outcome) -> None:
            request = outcome.request
            answers: tuple[Observed | BaseException, ...] = await asyncio.gather(
                _observe(client, primary_url, request, "primary"),
                _observe(client, candidate_url, request, "candidate"),
                return_exceptions=True,
            )
            first, second = answers
            if isinstance(first, Observed) and isinstance(second, Observed):
                outcome.primary, outcome.candidate = first, second
                outcome.comparison = compare(
                    first, second, outcome.route.rules, models.get(outcome.route.route_id)
                )
                if outcome.comparison.matched:  # only mismatches are shown: free the bodies
                    outcome.primary = outcome.candidate = None
            else:
                failed = [str(a) for a in answers if isinstance(a, BaseException)]
                outcome.error = "; ".join(failed)
            advance()

        await _pool(outcomes, run, concurrency)
    return _summarise(primary_url, candidate_url, outcomes, noise)


def _noise_sample(outcomes: Sequence[Outcome], per_route: int) -> list[Outcome]:
    if per_route <= 0:
        return []
    taken: Counter[str] = Counter()
    sample = []
    for outcome in outcomes:
        route = outcome.route.route_id
        if outcome.request.method in SAFE_METHODS and taken[route] < per_route:
            taken[route] += 1
            sample.append(outcome)
    return sample


class SideFailed(Exception):
    """One side gave no HTTP answer to one request (counted as an error, not a mismatch)."""


async def _observe(
    client: httpx.AsyncClient, base: str, request: TrafficRequest, side: str
) -> Observed:
    try:
        response = await client.request(
            request.method, base + request.path, headers=request.headers, content=request.body
        )
    except httpx.HTTPError as exc:
        raise SideFailed(f"{side}: {type(exc).__name__}: {exc or 'no answer'}") from None
    # httpx has decoded the body; facade.compare leaves decoded bytes as they are.
    return Observed(response.status_code, list(response.headers.raw), response.content)


async def _pool(
    items: Iterable[_T], work: Callable[[_T], Awaitable[None]], concurrency: int
) -> None:
    """At most ``concurrency`` items in flight, without a task per item up front."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            await work(item)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))


def _summarise(
    primary_url: str,
    candidate_url: str,
    outcomes: Sequence[Outcome],
    noise: dict[str, frozenset[str]],
) -> ReplayReport:
    routes: dict[str, RouteSummary] = {}
    mismatches: list[Outcome] = []
    errors: list[Outcome] = []
    for outcome in outcomes:
        route_id = outcome.route.route_id
        summary = routes.get(route_id)
        if summary is None:
            summary = routes[route_id] = RouteSummary(route_id, noise=set(noise.get(route_id, ())))
        summary.requests += 1
        if outcome.error is not None or outcome.comparison is None:
            summary.errors += 1
            errors.append(outcome)
        elif outcome.comparison.matched:
            summary.matched += 1
        else:
            summary.mismatched += 1
            summary.fields.update(list(dict.fromkeys(d.field for d in outcome.comparison.diffs)))
            mismatches.append(outcome)
    return ReplayReport(primary_url, candidate_url, routes, mismatches, errors, noise)
