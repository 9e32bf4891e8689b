"""Parity: what the shadow comparisons found, per route, for the admin API and the canary.

``ParitySink`` (a ComparisonSink, run by the shadow workers) compares each pair with
facade.compare, learns noise from the primary's second answers, redacts, and records in
a ``ParityStore``: in memory (one replica), or in Redis when the facade has REDIS_URL so
that every replica adds to the same counts (HINCRBY, capped lists, one Lua call per
comparison). ``ParityStore.route(id)`` is the admin API's ROUTE_PARITY document;
``ParityStore.window(id, seconds)`` gives ``(compared, mismatched)`` over the last
seconds (per-second buckets) for a controller that ramps a canary on parity.

Counts that happen on the request path (copies dropped because the queue was full,
writes not mirrored) only touch a local dict there; the Redis store flushes them from a
background task.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.registry import Collector

from facade.compare import CompareRules, NoiseModel, Observed, compare, learn_noise
from facade.config import CompareConfig
from facade.metrics import Metrics
from facade.redact import mask_target, redact_diffs
from facade.shadow import ShadowExchange

COUNTERS = ("compared", "matched", "mismatched", "candidate_errors", "dropped", "skipped_unsafe")
_SHADOW_OUTCOMES = {"dropped": "dropped", "skipped": "skipped_unsafe"}
MAX_FIELDS = 500
"""Distinct mismatching fields kept per route; beyond that only known ones are counted."""
MAX_NOISE = 500
SAMPLE_DIFFS = 20
"""Diffs kept per stored mismatch sample."""


def _at() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def route_parity(
    route_id: str,
    counts: dict[str, int],
    fields: dict[str, int],
    noise: Iterable[str],
    recent: list[dict[str, Any]],
    top: int,
) -> dict[str, Any]:
    """The ROUTE_PARITY document of the admin API (the dashboard reads exactly this)."""
    compared = counts.get("compared", 0)
    ranked = sorted(fields.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "route": route_id,
        **{name: counts.get(name, 0) for name in COUNTERS},
        "match_rate": round(counts.get("matched", 0) / compared, 4) if compared else None,
        "noise_paths": sorted(noise),
        "fields": [{"path": path, "mismatches": n} for path, n in ranked],
        "recent": recent,
    }


class ParityStore(abc.ABC):
    def __init__(
        self,
        *,
        recent: int = 50,
        top_fields: int = 20,
        window_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.recent_size = recent
        self.top_fields = top_fields
        self.window_seconds = window_seconds
        self.clock = clock

    def note_shadow_outcome(self, route_id: str, outcome: str) -> None:
        """ShadowQueue.on_count: runs on the request path, so nothing but a dict update."""
        counter = _SHADOW_OUTCOMES.get(outcome)
        if counter is not None:
            self.note(route_id, counter)

    @abc.abstractmethod
    def note(self, route_id: str, counter: str) -> None: ...

    @abc.abstractmethod
    async def record(
        self, route_id: str, matched: bool, fields: Iterable[str], sample: dict[str, Any] | None
    ) -> None: ...

    @abc.abstractmethod
    async def record_error(self, route_id: str) -> None: ...

    @abc.abstractmethod
    async def add_noise(self, route_id: str, fields: Iterable[str]) -> None: ...

    @abc.abstractmethod
    async def noise(self, route_id: str) -> NoiseModel: ...

    @abc.abstractmethod
    async def route(self, route_id: str) -> dict[str, Any]:
        """ROUTE_PARITY for one route (zeros when nothing was recorded)."""

    @abc.abstractmethod
    async def route_ids(self) -> list[str]:
        """Routes with anything recorded."""

    @abc.abstractmethod
    async def reset(self, route_id: str) -> None: ...

    @abc.abstractmethod
    async def window(self, route_id: str, seconds: float) -> tuple[int, int]:
        """``(compared, mismatched)`` over the last ``seconds`` (at most ``window_seconds``)."""

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass(slots=True)
class _RouteParity:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    fields: dict[str, int] = field(default_factory=dict)
    noise: set[str] = field(default_factory=set)
    recent: deque[dict[str, Any]] = field(default_factory=deque)
    seconds: deque[list[int]] = field(default_factory=deque)
    """``[second, compared, mismatched]``, oldest first."""


class MemoryParityStore(ParityStore):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._routes: dict[str, _RouteParity] = {}

    def _get(self, route_id: str) -> _RouteParity:
        found = self._routes.get(route_id)
        if found is None:
            found = self._routes[route_id] = _RouteParity(recent=deque(maxlen=self.recent_size))
        return found

    def note(self, route_id: str, counter: str) -> None:
        self._get(route_id).counts[counter] += 1

    async def record(
        self, route_id: str, matched: bool, fields: Iterable[str], sample: dict[str, Any] | None
    ) -> None:
        data = self._get(route_id)
        data.counts["compared"] += 1
        data.counts["matched" if matched else "mismatched"] += 1
        if not matched:
            for name in fields:
                if name in data.fields or len(data.fields) < MAX_FIELDS:
                    data.fields[name] = data.fields.get(name, 0) + 1
            if sample is not None:
                data.recent.appendleft(sample)
        now = int(self.clock())
        buckets = data.seconds
        if buckets and buckets[-1][0] == now:
            buckets[-1][1] += 1
            buckets[-1][2] += 0 if matched else 1
        else:
            buckets.append([now, 1, 0 if matched else 1])
        while buckets and buckets[0][0] <= now - self.window_seconds:
            buckets.popleft()

    async def record_error(self, route_id: str) -> None:
        self._get(route_id).counts["candidate_errors"] += 1

    async def add_noise(self, route_id: str, fields: Iterable[str]) -> None:
        noise = self._get(route_id).noise
        for name in fields:
            if len(noise) < MAX_NOISE:
                noise.add(name)

    async def noise(self, route_id: str) -> NoiseModel:
        found = self._routes.get(route_id)
        return NoiseModel(frozenset(found.noise) if found else frozenset())

    async def route(self, route_id: str) -> dict[str, Any]:
        data = self._routes.get(route_id) or _RouteParity()
        return route_parity(
            route_id, data.counts, data.fields, data.noise, list(data.recent), self.top_fields
        )

    async def route_ids(self) -> list[str]:
        return list(self._routes)

    async def reset(self, route_id: str) -> None:
        self._routes.pop(route_id, None)

    async def window(self, route_id: str, seconds: float) -> tuple[int, int]:
        data = self._routes.get(route_id)
        if data is None:
            return 0, 0
        since = int(self.clock()) - min(seconds, self.window_seconds)
        compared = mismatched = 0
        for second, c, m in data.seconds:
            if second > since:
                compared += c
                mismatched += m
        return compared, mismatched


# KEYS: counts, fields, recent, window bucket hash, routes set
# ARGV: route, outcome, sample, recent cap, fields cap, second, bucket ttl, field...
_RECORD = """
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'compared', 1)
redis.call('HINCRBY', KEYS[4], ARGV[6] .. ':c', 1)
if ARGV[2] == 'matched' then
  redis.call('HINCRBY', KEYS[1], 'matched', 1)
else
  redis.call('HINCRBY', KEYS[1], 'mismatched', 1)
  redis.call('HINCRBY', KEYS[4], ARGV[6] .. ':m', 1)
  local cap = tonumber(ARGV[5])
  for i = 8, #ARGV do
    if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 or redis.call('HLEN', KEYS[2]) < cap then
      redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
    end
  end
  if ARGV[3] ~= '' then
    redis.call('LPUSH', KEYS[3], ARGV[3])
    redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
  end
end
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[7]))
return 1
"""


class RedisParityStore(ParityStore):
    """Shared by every replica on the same Redis and prefix."""

    flush_interval = 0.2
    noise_ttl = 1.0

    def __init__(self, url: str, prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._url = url
        self._redis: Any = None  # created in start(), on the serving loop
        self._record: Any = None
        self._prefix = f"{prefix}:parity"
        self._pending: dict[tuple[str, str], int] = {}
        self._noise: dict[str, tuple[float, NoiseModel]] = {}
        self._task: asyncio.Task[None] | None = None

    def _key(self, route_id: str, part: str) -> str:
        return f"{self._prefix}:{route_id}:{part}"

    def _bucket_key(self, route_id: str, minute: int) -> str:
        return self._key(route_id, f"win:{minute}")

    def note(self, route_id: str, counter: str) -> None:
        key = (route_id, counter)
        self._pending[key] = self._pending.get(key, 0) + 1

    async def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        pipe = self._redis.pipeline(transaction=False)
        for (route_id, counter), n in pending.items():
            pipe.hincrby(self._key(route_id, "counts"), counter, n)
            pipe.sadd(f"{self._prefix}:routes", route_id)
        try:
            await pipe.execute()
        except Exception as exc:
            for key, n in pending.items():  # try again on the next flush
                self._pending[key] = self._pending.get(key, 0) + n
            _log("parity_redis_failed", error=str(exc))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self._flush()

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(self._url)
        self._record = self._redis.register_script(_RECORD)
        self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._flush()
            await self._redis.aclose()
            self._redis = None

    async def record(
        self, route_id: str, matched: bool, fields: Iterable[str], sample: dict[str, Any] | None
    ) -> None:
        now = int(self.clock())
        keys = [
            self._key(route_id, "counts"),
            self._key(route_id, "fields"),
            self._key(route_id, "recent"),
            self._bucket_key(route_id, now // 60),
            f"{self._prefix}:routes",
        ]
        args: list[Any] = [
            route_id,
            "matched" if matched else "mismatched",
            orjson.dumps(sample) if sample is not None else b"",
            self.recent_size,
            MAX_FIELDS,
            now,
            self.window_seconds + 120,
            *(() if matched else fields),
        ]
        try:
            await self._record(keys=keys, args=args)
        except Exception as exc:
            _log("parity_redis_failed", error=str(exc))

    async def record_error(self, route_id: str) -> None:
        self.note(route_id, "candidate_errors")

    async def add_noise(self, route_id: str, fields: Iterable[str]) -> None:
        names = list(fields)
        known = await self.noise(route_id)
        new = [n for n in names if n not in known.fields][: max(0, MAX_NOISE - len(known.fields))]
        if not new:
            return
        try:
            await self._redis.sadd(self._key(route_id, "noise"), *new)
        except Exception as exc:
            _log("parity_redis_failed", error=str(exc))
        self._noise.pop(route_id, None)

    async def noise(self, route_id: str) -> NoiseModel:
        cached = self._noise.get(route_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            members = await self._redis.smembers(self._key(route_id, "noise"))
        except Exception as exc:
            _log("parity_redis_failed", error=str(exc))
            return cached[1] if cached else NoiseModel()
        model = NoiseModel(frozenset(m.decode() for m in members))
        self._noise[route_id] = (now + self.noise_ttl, model)
        return model

    async def route(self, route_id: str) -> dict[str, Any]:
        await self._flush()
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._key(route_id, "counts"))
        pipe.hgetall(self._key(route_id, "fields"))
        pipe.smembers(self._key(route_id, "noise"))
        pipe.lrange(self._key(route_id, "recent"), 0, self.recent_size - 1)
        counts, fields, noise, recent = await pipe.execute()
        return route_parity(
            route_id,
            {k.decode(): int(v) for k, v in counts.items()},
            {k.decode(): int(v) for k, v in fields.items()},
            [n.decode() for n in noise],
            [orjson.loads(item) for item in recent],
            self.top_fields,
        )

    async def route_ids(self) -> list[str]:
        await self._flush()
        members = await self._redis.smembers(f"{self._prefix}:routes")
        return sorted(m.decode() for m in members)

    def _minutes(self, seconds: float) -> range:
        now = int(self.clock())
        return range((now - int(seconds)) // 60, now // 60 + 1)

    async def reset(self, route_id: str) -> None:
        await self._flush()
        keys = [self._key(route_id, part) for part in ("counts", "fields", "noise", "recent")]
        keys += [self._bucket_key(route_id, m) for m in self._minutes(self.window_seconds + 120)]
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(*keys)
        pipe.srem(f"{self._prefix}:routes", route_id)
        await pipe.execute()
        self._noise.pop(route_id, None)

    async def window(self, route_id: str, seconds: float) -> tuple[int, int]:
        seconds = min(seconds, self.window_seconds)
        since = int(self.clock()) - int(seconds)
        pipe = self._redis.pipeline(transaction=False)
        for minute in self._minutes(seconds):
            pipe.hgetall(self._bucket_key(route_id, minute))
        compared = mismatched = 0
        for bucket in await pipe.execute():
            for key, value in bucket.items():
                second, _, kind = key.decode().partition(":")
                if int(second) > since:
                    if kind == "c":
                        compared += int(value)
                    else:
                        mismatched += int(value)
        return compared, mismatched


def _log(event: str, **fields: Any) -> None:
    from facade.state import log_event

    log_event(event, **fields)


def make_store(
    redis_url: str | None, prefix: str, *, recent: int, top_fields: int, window_seconds: int
) -> ParityStore:
    kwargs: dict[str, Any] = {
        "recent": recent,
        "top_fields": top_fields,
        "window_seconds": window_seconds,
    }
    if redis_url:
        return RedisParityStore(redis_url, prefix, **kwargs)
    return MemoryParityStore(**kwargs)


class ParityCollector(Collector):
    """This replica's match rate and most mismatching fields (bounded: ``top`` per route).

    The per-route counters (facade_parity_*_total) live in Metrics; the field paths are
    exposed only for the current top few, never as an unbounded label set.
    """

    def __init__(self, top: int = 5) -> None:
        self.top = top
        self.totals: dict[str, list[int]] = {}
        self.fields: dict[str, dict[str, int]] = {}

    def add(self, route_id: str, matched: bool, fields: Iterable[str]) -> None:
        totals = self.totals.setdefault(route_id, [0, 0])
        totals[0] += 1
        totals[1] += 1 if matched else 0
        counts = self.fields.setdefault(route_id, {})
        for name in fields:
            if name in counts or len(counts) < MAX_FIELDS:
                counts[name] = counts.get(name, 0) + 1

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rate = GaugeMetricFamily(
            "facade_parity_match_rate",
            "Share of compared shadow answers that matched, per route (this replica).",
            labels=("route",),
        )
        for route_id, (compared, matched) in list(self.totals.items()):
            rate.add_metric((route_id,), matched / compared if compared else 0.0)
        yield rate
        top = GaugeMetricFamily(
            "facade_parity_top_field_mismatches",
            "Mismatches of the most mismatching fields per route (top few only, this replica).",
            labels=("route", "path"),
        )
        for route_id, counts in list(self.fields.items()):
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.top]
            for path, n in ranked:
                top.add_metric((route_id, path), n)
        yield top


class ParitySink:
    """Compares each finished shadow pair and records the result (runs in the workers)."""

    def __init__(
        self, store: ParityStore, metrics: Metrics, collector: ParityCollector | None = None
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.collector = collector or ParityCollector()
        self._rules: dict[int, tuple[CompareConfig, CompareRules]] = {}
        self._default = CompareConfig()

    def rules_for(self, config: CompareConfig) -> CompareRules:
        cached = self._rules.get(id(config))
        if cached is not None and cached[0] is config:
            return cached[1]
        rules = CompareRules.build(
            headers=config.headers,
            ignore=config.ignore,
            tolerance=config.tolerance.model_dump() if config.tolerance else None,
            unordered=[u.model_dump() for u in config.unordered],
            normalisers=[n.model_dump() for n in config.normalisers],
            mask=config.pii,
        )
        if len(self._rules) > 256:
            self._rules.clear()
        self._rules[id(config)] = (config, rules)  # the config is kept: its id stays unique
        return rules

    async def submit(self, exchange: ShadowExchange) -> None:
        route_id = exchange.route_id
        if exchange.candidate_error is not None or exchange.candidate_status is None:
            self.metrics.parity_candidate_errors.labels(route_id).inc()
            await self.store.record_error(route_id)
            return
        config = exchange.route.compare if exchange.route is not None else self._default
        rules = self.rules_for(config)
        primary = Observed(exchange.primary_status, exchange.primary_headers, exchange.primary_body)
        if exchange.secondary_status is not None:
            second = Observed(
                exchange.secondary_status, exchange.secondary_headers, exchange.secondary_body
            )
            learned = learn_noise(primary, second, rules)
            if learned:
                await self.store.add_noise(route_id, learned)
        candidate = Observed(
            exchange.candidate_status, exchange.candidate_headers, exchange.candidate_body
        )
        result = compare(primary, candidate, rules, await self.store.noise(route_id))
        fields = list(dict.fromkeys(d.field for d in result.diffs))
        sample = None
        if not result.matched:
            pii = frozenset(config.pii)
            sample = {
                "at": _at(),
                "method": exchange.method,
                "target": mask_target(exchange.target, pii),
                "primary_status": exchange.primary_status,
                "candidate_status": exchange.candidate_status,
                "diffs": redact_diffs(result.diffs[:SAMPLE_DIFFS], pii),
            }
        self.metrics.parity_compared.labels(route_id).inc()
        if result.matched:
            self.metrics.parity_matched.labels(route_id).inc()
        else:
            self.metrics.parity_mismatched.labels(route_id).inc()
        self.collector.add(route_id, result.matched, fields)
        await self.store.record(route_id, result.matched, fields, sample)
