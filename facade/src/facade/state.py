"""The live route state: atomic table swaps, audit log, file watching and Redis sync.

A swap replaces one immutable Snapshot; a request reads the snapshot once when it
starts and finishes on it, so a swap never disturbs in-flight requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from facade.config import (
    MODES,
    ConfigError,
    RoutesConfig,
    dump_config,
    load_config,
    load_default,
    parse_config,
)
from facade.matching import RouteTable
from facade.metrics import Metrics
from facade.settings import FacadeSettings
from facade.upstreams import Registry, Upstream

_PUBLISH = """
local v = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], v)
return v
"""


@dataclass(frozen=True, slots=True)
class Snapshot:
    table: RouteTable
    upstreams: dict[str, Upstream]
    upstream_origins: frozenset[bytes]
    version: int


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def config_hash(config: RoutesConfig) -> str:
    return hashlib.sha256(
        orjson.dumps(dump_config(config), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def diff(old: RoutesConfig | None, new: RoutesConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only what changed: ``({"routes": {id: old}}, {"routes": {id: new}})``, same for upstreams."""
    before: dict[str, Any] = {"routes": {}, "upstreams": {}}
    after: dict[str, Any] = {"routes": {}, "upstreams": {}}
    old_routes = {r.id: r.model_dump(mode="json") for r in old.routes} if old else {}
    new_routes = {r.id: r.model_dump(mode="json") for r in new.routes}
    for rid in sorted(set(old_routes) | set(new_routes)):
        if old_routes.get(rid) != new_routes.get(rid):
            before["routes"][rid] = old_routes.get(rid)
            after["routes"][rid] = new_routes.get(rid)
    old_up = {k: v.model_dump(mode="json") for k, v in old.upstreams.items()} if old else {}
    new_up = {k: v.model_dump(mode="json") for k, v in new.upstreams.items()}
    for name in sorted(set(old_up) | set(new_up)):
        if old_up.get(name) != new_up.get(name):
            before["upstreams"][name] = old_up.get(name)
            after["upstreams"][name] = new_up.get(name)
    return before, after


def _reader(upstream: Upstream) -> Any:
    bulkhead = upstream.bulkhead
    return lambda: bulkhead.in_flight


class AuditLog:
    def __init__(self, path: Path | None, keep: int) -> None:
        self.path = path
        self.entries: deque[dict[str, Any]] = deque(maxlen=keep)
        self.redis: Any = None
        self.redis_key = ""

    async def record(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        line = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
        if self.path is not None:
            try:
                with self.path.open("ab") as fh:
                    fh.write(line)
            except OSError as exc:
                log_event("audit_write_failed", path=str(self.path), error=str(exc))
        if self.redis is not None:
            try:
                pipe = self.redis.pipeline()
                pipe.lpush(self.redis_key, line)
                pipe.ltrim(self.redis_key, 0, (self.entries.maxlen or 1000) - 1)
                await pipe.execute()
            except Exception as exc:
                log_event("audit_redis_failed", error=str(exc))

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        if self.redis is not None:
            try:
                raw = await self.redis.lrange(self.redis_key, 0, limit - 1)
                return [json.loads(item) for item in raw]
            except Exception as exc:
                log_event("audit_redis_failed", error=str(exc))
        return list(reversed(self.entries))[:limit]


_events = logging.getLogger("facade")
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}
_TROUBLE = ("_failed", "_refused", "_unavailable", "_forced")


def log_event(event: str, **fields: Any) -> None:
    """Operational events (not access logs), in the process's log format (shop_telemetry):
    the event name is the message and the ``event`` field, the keywords are fields."""
    level = logging.WARNING if event.endswith(_TROUBLE) else logging.INFO
    extra = {(f"{k}_" if k in _RECORD_ATTRS else k): v for k, v in fields.items()}
    _events.log(level, event, extra={"event": event, **extra})


class RouteState:
    def __init__(self, settings: FacadeSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.registry = Registry(on_breaker_change=self._breaker_changed)
        self.audit = AuditLog(settings.audit_log_file, settings.audit_memory_entries)
        self._lock = asyncio.Lock()
        self._file_stamp: tuple[float, int] | None = None
        self._redis: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.config = load_default(settings.routes_file)
        self.snapshot = self._build(self.config, 1)
        self._stamp_file()

    # -- building and swapping
    def _build(self, config: RoutesConfig, version: int) -> Snapshot:
        upstreams = self.registry.build(config)
        origins: set[bytes] = set()
        for upstream in upstreams.values():
            for url in upstream.config.all_instances():
                origins.add(url.rstrip("/").lower().encode())
            for instance in upstream.instances:
                o = instance.origin
                origins.add(f"{o.scheme}://{o.host}:{o.port}".lower().encode())
                default_port = 443 if o.scheme == "https" else 80
                if o.port == default_port:
                    origins.add(f"{o.scheme}://{o.host}".lower().encode())
        self.metrics.config_version.set(version)
        for name, upstream in upstreams.items():
            self.metrics.breaker_state.labels(name).set(int(upstream.breaker.state))
            self.metrics.track_upstream(name, _reader(upstream))
        return Snapshot(RouteTable.build(config, version), upstreams, frozenset(origins), version)

    def _breaker_changed(self, upstream: str, state: Any) -> None:
        self.metrics.breaker_state.labels(upstream).set(int(state))
        self.metrics.breaker_transitions.labels(upstream, state.name.lower()).inc()
        log_event("breaker", upstream=upstream, state=state.name.lower())

    async def apply(
        self,
        config: RoutesConfig,
        *,
        who: str,
        source: str,
        action: str,
        publish: bool = True,
        version: int | None = None,
        reason: str | None = None,
    ) -> Snapshot:
        async with self._lock:
            return await self._apply_locked(config, who, source, action, publish, version, reason)

    async def _apply_locked(
        self,
        config: RoutesConfig,
        who: str,
        source: str,
        action: str,
        publish: bool,
        version: int | None,
        reason: str | None = None,
    ) -> Snapshot:
        old = self.config
        if version is None:
            version = self.snapshot.version + 1
            if publish and self._redis is not None:
                version = await self._publish(config)
        self.config = config
        self.snapshot = self._build(config, version)
        self.metrics.config_changes.labels(source, "applied").inc()
        if action != "sync":
            before, after = diff(old, config)
            await self.audit.record(
                {
                    "at": _now(),
                    "who": who,
                    "source": source,
                    "action": action,
                    "result": "applied",
                    "version": version,
                    "old": before,
                    "new": after,
                    **({"reason": reason} if reason else {}),
                }
            )
        if any(u.config.discovery == "dns" for u in self.snapshot.upstreams.values()):
            await self.registry.refresh_dns()
        log_event("route_table", version=version, source=source, who=who, action=action)
        return self.snapshot

    async def refuse(self, error: ConfigError, *, who: str, source: str, action: str) -> None:
        self.metrics.config_changes.labels(source, "refused").inc()
        log_event("route_table_refused", source=source, who=who, problems=error.problems)
        await self.audit.record(
            {
                "at": _now(),
                "who": who,
                "source": source,
                "action": action,
                "result": "refused",
                "version": self.snapshot.version,
                "problems": error.problems,
            }
        )

    async def propose(
        self, document: Any, *, who: str, source: str, action: str, reason: str | None = None
    ) -> Snapshot:
        """Validate a whole document and swap it in, or refuse it and keep the table."""
        try:
            config = parse_config(document)
        except ConfigError as exc:
            await self.refuse(exc, who=who, source=source, action=action)
            raise
        return await self.apply(config, who=who, source=source, action=action, reason=reason)

    async def set_route(
        self,
        route_id: str,
        changes: dict[str, Any],
        *,
        who: str,
        source: str = "admin",
        action: str = "set-route",
        reason: str | None = None,
    ) -> Snapshot:
        allowed = {
            "mode", "percent", "upstream", "fallback", "timeout", "sticky",
            "shadow_writes", "compare",
        }  # fmt: skip
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise ConfigError([f"routes[{route_id}].{unknown[0]}: cannot be changed here"])
        if "mode" in changes and changes["mode"] not in MODES:
            raise ConfigError(
                [f"routes[{route_id}].mode: {changes['mode']!r} is not one of {', '.join(MODES)}"]
            )
        document = dump_config(self.config)
        for route in document["routes"]:
            if route["id"] == route_id:
                route.update(changes)
                if route.get("mode") != "canary" and "percent" not in changes:
                    route["percent"] = None
                break
        else:
            raise KeyError(route_id)
        return await self.propose(document, who=who, source=source, action=action, reason=reason)

    async def switch_pool(self, upstream: str, pool: str, *, who: str) -> Snapshot:
        document = dump_config(self.config)
        if upstream not in document["upstreams"]:
            raise KeyError(upstream)
        document["upstreams"][upstream]["active_pool"] = pool
        return await self.propose(document, who=who, source="admin", action="switch-pool")

    async def reload_file(self, *, who: str) -> Snapshot | None:
        path = self.settings.routes_file
        if path is None:
            raise ConfigError(["FACADE_ROUTES_FILE: not set, nothing to reload"])
        self._stamp_file()
        try:
            config = load_config(path)
        except ConfigError as exc:
            await self.refuse(exc, who=who, source="file", action="reload")
            raise
        if config_hash(config) == config_hash(self.config):
            return None
        return await self.apply(config, who=who, source="file", action="reload")

    # -- background work
    def _stamp_file(self) -> None:
        path = self.settings.routes_file
        if path is None:
            return
        try:
            st = path.stat()
        except OSError:
            self._file_stamp = None
            return
        self._file_stamp = (st.st_mtime, st.st_size)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.settings.redis_url:
            await self._connect_redis()
        if self.settings.routes_file is not None:
            self._tasks.append(loop.create_task(self._watch_file()))
        self._tasks.append(loop.create_task(self._probe_loop()))
        if any(u.config.discovery == "dns" for u in self.snapshot.upstreams.values()):
            await self.registry.refresh_dns()
            self._tasks.append(loop.create_task(self._dns_loop()))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _watch_file(self) -> None:
        path = self.settings.routes_file
        assert path is not None
        while True:
            await asyncio.sleep(self.settings.reload_interval)
            try:
                st = path.stat()
            except OSError:
                continue
            if (st.st_mtime, st.st_size) == self._file_stamp:
                continue
            with contextlib.suppress(ConfigError):
                await self.reload_file(who=f"file:{path}")

    async def _probe_loop(self) -> None:
        while True:
            try:
                await self.registry.probe()
            except Exception as exc:  # never let the prober die
                log_event("probe_failed", error=str(exc))
            await asyncio.sleep(self.settings.health_interval)

    async def _dns_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.dns_refresh_interval)
            try:
                await self.registry.refresh_dns()
            except Exception as exc:
                log_event("dns_refresh_failed", error=str(exc))

    # -- Redis: shared state for several replicas
    def _keys(self) -> tuple[str, str, str, str]:
        p = self.settings.redis_prefix
        return f"{p}:version", f"{p}:state", f"{p}:changes", f"{p}:audit"

    async def _connect_redis(self) -> None:
        import redis.asyncio as aioredis

        assert self.settings.redis_url is not None
        self._redis = aioredis.Redis.from_url(self.settings.redis_url)
        version_key, _, _, audit_key = self._keys()
        self.audit.redis = self._redis
        self.audit.redis_key = audit_key
        try:
            adopted = await self._check_redis(startup=True)
            if not adopted and await self._redis.get(version_key) is None:
                version = await self._publish(self.config)
                self.snapshot = self._build(self.config, version)
        except Exception as exc:
            log_event("redis_unavailable", error=str(exc))
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._redis_poll()))
        self._tasks.append(loop.create_task(self._redis_listen()))

    async def _publish(self, config: RoutesConfig) -> int:
        version_key, state_key, channel, _ = self._keys()
        payload = orjson.dumps(dump_config(config))
        result = await self._redis.eval(_PUBLISH, 3, version_key, state_key, channel, payload)
        return int(result)

    async def _check_redis(self, *, startup: bool = False) -> bool:
        """Adopt the shared state when it is newer (at startup: whenever there is one)."""
        version_key, state_key, _, _ = self._keys()
        raw_version, raw_state = await self._redis.mget(version_key, state_key)
        if raw_version is None or raw_state is None:
            return False
        version = int(raw_version)
        if not startup and version <= self.snapshot.version:
            return False
        async with self._lock:
            if not startup and version <= self.snapshot.version:
                return False
            try:
                config = parse_config(orjson.loads(raw_state), env={})
            except ConfigError as exc:
                log_event("redis_state_refused", version=version, problems=exc.problems)
                return False
            await self._apply_locked(config, "redis", "redis", "sync", False, version)
        return True

    async def _redis_poll(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.sync_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._check_redis()
            except Exception as exc:
                log_event("redis_sync_failed", error=str(exc))

    async def _redis_listen(self) -> None:
        _, _, channel, _ = self._keys()
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(channel)
                try:
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._wake.set()
                finally:
                    await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_event("redis_pubsub_failed", error=str(exc))
                await asyncio.sleep(1.0)
