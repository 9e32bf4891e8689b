"""Runtime upstreams: instances (config, env or DNS), round-robin with passive ejection,
circuit breaker, bulkhead and active TCP health probes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from facade.breaker import BreakerState, CircuitBreaker
from facade.client import Origin
from facade.config import BreakerConfig, RoutesConfig, UpstreamConfig


def parse_origin(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    return Origin(scheme, host, port, parts.netloc)


@dataclass(slots=True)
class Instance:
    url: str
    origin: Origin
    failures: int = 0
    ejected_until: float = 0.0
    probe_ok: bool | None = None
    """Last active probe: None until the first probe ran."""

    def available(self, now: float) -> bool:
        return self.ejected_until <= now


class Bulkhead:
    """Per-upstream concurrency limit; shared across table swaps so counts stay right."""

    __slots__ = ("in_flight", "limit")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_flight = 0

    def try_enter(self) -> bool:
        if self.limit is not None and self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1


@dataclass(slots=True)
class Upstream:
    name: str
    config: UpstreamConfig
    breaker: CircuitBreaker
    bulkhead: Bulkhead
    instances: list[Instance] = field(default_factory=list)
    _rr: int = 0

    def pick(self, exclude: Iterable[Instance] = ()) -> Instance | None:
        """Next instance round-robin, skipping ejected ones; all ejected: least recently."""
        instances = self.instances
        count = len(instances)
        if count == 0:
            return None
        if count == 1:
            only = instances[0]
            return None if only in exclude else only
        now = time.monotonic()
        for _ in range(count):
            self._rr = (self._rr + 1) % count
            candidate = instances[self._rr]
            if candidate.available(now) and candidate not in exclude:
                return candidate
        rest = [i for i in instances if i not in exclude]
        return min(rest, key=lambda i: i.ejected_until) if rest else None

    def connect_failed(self, instance: Instance) -> None:
        instance.failures += 1
        if instance.failures >= self.config.ejection.consecutive_failures:
            instance.ejected_until = time.monotonic() + self.config.ejection.duration
            instance.failures = 0

    @staticmethod
    def connect_ok(instance: Instance) -> None:
        if instance.failures:
            instance.failures = 0
        if instance.ejected_until:
            instance.ejected_until = 0.0

    def health(self) -> dict[str, object]:
        now = time.monotonic()
        state = self.breaker.state
        instances = [
            {
                "url": i.origin.url,
                "configured": i.url,
                "ejected": not i.available(now),
                "reachable": i.probe_ok,
            }
            for i in self.instances
        ]
        up = any(i.available(now) and i.probe_ok is not False for i in self.instances)
        return {
            "healthy": up and state is not BreakerState.OPEN,
            "breaker": state.name.lower().replace("_", "-"),
            "in_flight": self.bulkhead.in_flight,
            "max_concurrent": self.bulkhead.limit,
            "active_pool": self.config.active_pool,
            "instances": instances,
        }


class Registry:
    """Upstreams by name; rebuilt on every table swap, keeping breakers and bulkheads."""

    def __init__(self, on_breaker_change: Callable[[str, BreakerState], None] | None = None):
        self._on_breaker_change = on_breaker_change
        self.upstreams: dict[str, Upstream] = {}

    def build(self, config: RoutesConfig) -> dict[str, Upstream]:
        out: dict[str, Upstream] = {}
        for name, cfg in config.upstreams.items():
            old = self.upstreams.get(name)
            if old is not None and old.config == cfg:
                out[name] = old
                continue
            breaker = (
                old.breaker
                if old is not None and old.config.breaker == cfg.breaker
                else self._breaker(name, cfg.breaker)
            )
            bulkhead = old.bulkhead if old is not None else Bulkhead(cfg.max_concurrent)
            bulkhead.limit = cfg.max_concurrent
            known = {i.url: i for i in old.instances} if old is not None else {}
            instances = [known.get(u) or Instance(u, parse_origin(u)) for u in _active(cfg)]
            out[name] = Upstream(name, cfg, breaker, bulkhead, instances)
        self.upstreams = out
        return out

    def _breaker(self, name: str, cfg: BreakerConfig) -> CircuitBreaker:
        callback = self._on_breaker_change
        if callback is None:
            return CircuitBreaker(cfg)
        return CircuitBreaker(cfg, on_change=lambda state: callback(name, state))

    async def refresh_dns(self) -> None:
        """Re-resolve ``discovery: dns`` upstreams: one instance per address found."""
        loop = asyncio.get_running_loop()
        for upstream in list(self.upstreams.values()):
            if upstream.config.discovery != "dns":
                continue
            found: list[Instance] = []
            known = {(i.url, i.origin.host): i for i in upstream.instances}
            for url in _active(upstream.config):
                origin = parse_origin(url)
                try:
                    infos = await loop.getaddrinfo(
                        origin.host, origin.port, type=socket.SOCK_STREAM
                    )
                except OSError:
                    found.extend(i for i in upstream.instances if i.url == url)
                    continue
                for address in sorted({str(info[4][0]) for info in infos}):
                    instance = known.get((url, address))
                    if instance is None:
                        resolved = Origin(origin.scheme, address, origin.port, origin.netloc)
                        instance = Instance(url, resolved)
                    found.append(instance)
            if found:
                upstream.instances = found

    async def probe(self, timeout_cap: float = 1.0) -> None:
        """TCP-connect every instance: feeds /readyz, never the request path."""

        async def one(instance: Instance, timeout: float) -> None:
            try:
                async with asyncio.timeout(timeout):
                    _, writer = await asyncio.open_connection(
                        instance.origin.host, instance.origin.port
                    )
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                instance.probe_ok = True
            except (OSError, TimeoutError):
                instance.probe_ok = False

        jobs = [
            one(i, min(u.config.connect_timeout, timeout_cap))
            for u in self.upstreams.values()
            for i in u.instances
        ]
        await asyncio.gather(*jobs)


def _active(cfg: UpstreamConfig) -> list[str]:
    return cfg.active_instances()
