"""The routes file: a typed schema, environment interpolation and precise validation errors.

Errors name the route or upstream by id, the field and the reason, e.g.
``routes[products-read].percent: canary needs a percent between 0 and 100``.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from facade.compare import NORMALISERS, PathPattern, RuleError

Mode = Literal["monolith", "shadow", "canary", "extracted"]
ShadowWrites = Literal["dry-run", "mirror"]
MODES: tuple[str, ...] = ("monolith", "shadow", "canary", "extracted")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
DEFAULT_ROUTE_ID = "default"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


class ConfigError(ValueError):
    """An invalid routes document; ``problems`` lists every ``where: why`` found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerConfig(_Model):
    failure_threshold: int = Field(default=5, ge=1)
    """Consecutive failures (connect error, timeout, 5xx) that open the breaker."""
    reset_timeout: float = Field(default=10.0, gt=0)
    """Seconds the breaker stays open before letting probe requests through (half-open)."""
    half_open_max: int = Field(default=1, ge=1)
    """Concurrent probe requests allowed while half-open."""
    trip_on_5xx: bool = True


class EjectionConfig(_Model):
    consecutive_failures: int = Field(default=3, ge=1)
    duration: float = Field(default=10.0, gt=0)


class UpstreamConfig(_Model):
    instances: list[str] = Field(default_factory=list)
    pools: dict[str, list[str]] = Field(default_factory=dict)
    active_pool: str | None = None
    discovery: Literal["static", "dns"] = "static"
    connect_timeout: float = Field(default=2.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    max_concurrent: int | None = Field(default=None, ge=1)
    retries: int = Field(default=2, ge=0, le=10)
    retry_backoff: float = Field(default=0.05, ge=0)
    keepalive_expiry: float = Field(default=1.5, gt=0)
    preserve_host: bool = True
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    ejection: EjectionConfig = Field(default_factory=EjectionConfig)

    @field_validator("instances", mode="before")
    @classmethod
    def _split_instances(cls, value: Any) -> Any:
        return _split_urls(value)

    @field_validator("pools", mode="before")
    @classmethod
    def _split_pools(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: _split_urls(v) for k, v in value.items()}
        return value

    def active_instances(self) -> list[str]:
        if self.pools:
            return list(self.pools[self.active_pool or next(iter(self.pools))])
        return list(self.instances)

    def all_instances(self) -> list[str]:
        urls = list(self.instances)
        for pool in self.pools.values():
            urls.extend(pool)
        return urls


def _check_path(text: str) -> str:
    try:
        PathPattern.parse(text)
    except RuleError as exc:
        raise ValueError(str(exc)) from None
    return text


class ToleranceConfig(_Model):
    absolute: float = Field(default=0.0, ge=0)
    relative: float = Field(default=0.0, ge=0)
    paths: list[str] = Field(default_factory=list)
    """Where it applies (JSON paths); empty: every number."""

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        return [_check_path(p) for p in value]


class UnorderedConfig(_Model):
    path: str
    key: str | None = None
    """Pair array elements by this field; without it, by equality."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)


class NormaliserConfig(_Model):
    name: str
    paths: list[str] = Field(default_factory=list)
    """Where it applies (JSON paths); empty: every value."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in NORMALISERS:
            raise ValueError(
                f"unknown normaliser {value!r} (known: {', '.join(sorted(NORMALISERS))})"
            )
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        return [_check_path(p) for p in value]


class RampConfig(_Model):
    """A canary that advances by itself while healthy and rolls back when not (facade.ramp)."""

    steps: list[float] = Field(default_factory=lambda: [1.0, 5.0, 25.0, 50.0, 100.0])
    hold: float = Field(default=30.0, gt=0)
    """Seconds a step must stay healthy before the next one."""
    min_requests: int = Field(default=20, ge=1)
    """Candidate requests within the hold needed to judge it."""
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    """Candidate 5xx answers plus failures the monolith covered, as a share of its requests."""
    fast_window: int = Field(default=5, ge=1, le=60)
    """Seconds over which a failing candidate rolls the route back at once."""
    min_requests_fast: int = Field(default=5, ge=1)
    min_compared: int = Field(default=0, ge=0)
    """Shadow comparisons needed per step (0: parity is not a gate)."""
    min_match_rate: float = Field(default=0.99, ge=0, le=1)
    finish: Literal["extracted", "canary"] = "extracted"
    rollback_to: Literal["monolith", "shadow"] = "shadow"

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("needs at least one step")
        if any(not 0 < p <= 100 for p in value):
            raise ValueError("each step is a percent in (0, 100]")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("steps must increase")
        return value


class CompareConfig(_Model):
    """How shadow answers are compared (facade.compare) and what is masked when stored."""

    headers: list[str] = Field(default_factory=lambda: ["content-type"])
    ignore: list[str] = Field(default_factory=list)
    tolerance: ToleranceConfig | None = None
    unordered: list[UnorderedConfig] = Field(default_factory=list)
    normalisers: list[NormaliserConfig] = Field(default_factory=list)
    noise_sample_rate: float = Field(default=0.05, ge=0, le=1)
    """Share of safe shadowed requests sent to the primary twice to learn noisy fields."""
    pii: list[str] = Field(default_factory=list)
    """Field names whose values are masked in stored diffs (any depth, case-insensitive)."""

    @field_validator("ignore")
    @classmethod
    def _ignore(cls, value: list[str]) -> list[str]:
        return [_check_path(p) for p in value]

    @field_validator("headers", "pii")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]


class RouteConfig(_Model):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    path: str
    methods: list[str] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    """Header conditions: exact value, or ``"*"`` for "present"."""
    cookies: dict[str, str] = Field(default_factory=dict)
    upstream: str
    mode: Mode = "monolith"
    percent: float | None = None
    sticky: list[str] = Field(
        default_factory=lambda: ["header:x-user-id", "cookie:sessionid", "client"]
    )
    """Canary key sources, first present wins: ``header:NAME``, ``cookie:NAME``, ``client``."""
    fallback: str | None = None
    """Who answers in monolith mode and on safe-method failure (default: the default route's)."""
    timeout: float | None = Field(default=None, gt=0)
    max_body_bytes: int | None = Field(default=None, ge=0)
    shadow_writes: ShadowWrites | None = None
    """Unsafe methods in shadow mode: unset, not mirrored (counted as skipped); ``dry-run``,
    mirrored with ``X-Strangler-Dry-Run: 1`` (the candidate rolls the write back);
    ``mirror``, mirrored as they are (only for candidates on a throwaway database)."""
    compare: CompareConfig = Field(default_factory=CompareConfig)
    ramp: RampConfig | None = None
    """In canary mode: step the percent up while healthy, roll back when not."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_shadow_unsafe(cls, data: Any) -> Any:
        """``shadow_unsafe: true`` (the old switch) still means ``shadow_writes: mirror``."""
        if not isinstance(data, dict) or "shadow_unsafe" not in data:
            return data
        data = dict(data)
        legacy = data.pop("shadow_unsafe")
        if legacy is True:
            if data.get("shadow_writes") not in (None, "mirror"):
                raise ValueError(
                    "shadow_unsafe: true conflicts with shadow_writes: "
                    f"{data['shadow_writes']}; keep only shadow_writes"
                )
            data["shadow_writes"] = "mirror"
        elif legacy not in (False, None):
            raise ValueError(
                "shadow_unsafe: must be true or false; it is replaced by "
                "shadow_writes: dry-run | mirror"
            )
        return data

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        upper = [m.upper() for m in value]
        unknown = sorted(set(upper) - HTTP_METHODS)
        if unknown:
            raise ValueError(f"unknown HTTP method(s) {', '.join(unknown)}")
        if not upper:
            raise ValueError("must list at least one method (omit it for all methods)")
        return upper

    @field_validator("sticky")
    @classmethod
    def _sticky(cls, value: list[str]) -> list[str]:
        for source in value:
            kind, _, name = source.partition(":")
            if kind not in ("header", "cookie", "client") or (kind != "client" and not name):
                raise ValueError(
                    f"sticky source {source!r} must be header:NAME, cookie:NAME or client"
                )
        return value


class RoutesConfig(_Model):
    version: int = 1
    upstreams: dict[str, UpstreamConfig]
    routes: list[RouteConfig]

    def route(self, route_id: str) -> RouteConfig:
        for route in self.routes:
            if route.id == route_id:
                return route
        raise KeyError(route_id)

    def default_route(self) -> RouteConfig:
        return self.route(DEFAULT_ROUTE_ID)

    def fallback_of(self, route: RouteConfig) -> str:
        return route.fallback or self.default_route().upstream


def _split_urls(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def interpolate(value: Any, env: Mapping[str, str], where: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed document."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env and env[name] != "":
                return env[name]
            if default is not None:
                return default
            raise ConfigError([f"{where or '<root>'}: environment variable {name} is not set"])

        return _ENV_REF.sub(sub, value)
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            k: interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    return value


def parse_config(document: Any, env: Mapping[str, str] | None = None) -> RoutesConfig:
    """Validate a parsed document; raise ConfigError listing every problem."""
    if not isinstance(document, dict):
        raise ConfigError(["<root>: expected a mapping with 'upstreams' and 'routes'"])
    # Top-level ``x-...`` keys hold YAML anchors shared by routes (as in compose files).
    document = {k: v for k, v in document.items() if not str(k).startswith("x-")}
    document = interpolate(document, os.environ if env is None else env)
    try:
        config = RoutesConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError([_describe(err, document) for err in exc.errors()]) from None
    problems = _semantic_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def load_config(path: Path, env: Mapping[str, str] | None = None) -> RoutesConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    return parse_text(text, env, source=str(path))


def parse_text(text: str, env: Mapping[str, str] | None = None, source: str = "") -> RoutesConfig:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{source or '<yaml>'}:{at}: invalid YAML ({problem})"]) from None
    return parse_config(document, env)


def _describe(err: Any, document: dict[str, Any]) -> str:
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int):
        routes = document.get("routes") or []
        item = routes[loc[1]] if loc[1] < len(routes) else None
        rid = item.get("id") if isinstance(item, dict) else None
        where = f"routes[{rid if rid else '#' + str(loc[1])}]"
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "upstreams":
        where = f"upstreams[{loc[1]}]"
        loc = loc[2:]
    field = ".".join(str(p) for p in loc)
    target = ".".join(p for p in (where, field) if p) or "<root>"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{target}: {msg}"


def _semantic_problems(config: RoutesConfig) -> list[str]:
    from facade.matching import PatternError, compile_pattern

    problems: list[str] = []
    for name, upstream in config.upstreams.items():
        where = f"upstreams[{name}]"
        if upstream.pools and upstream.instances:
            problems.append(f"{where}.pools: give either instances or pools, not both")
        if not upstream.pools and not upstream.instances:
            problems.append(f"{where}.instances: needs at least one instance URL")
        if upstream.pools:
            if upstream.active_pool is None:
                problems.append(f"{where}.active_pool: required when pools are given")
            elif upstream.active_pool not in upstream.pools:
                names = ", ".join(sorted(upstream.pools))
                problems.append(
                    f"{where}.active_pool: {upstream.active_pool!r} is not a pool ({names})"
                )
            for pool, urls in upstream.pools.items():
                if not urls:
                    problems.append(f"{where}.pools.{pool}: needs at least one instance URL")
        elif upstream.active_pool is not None:
            problems.append(f"{where}.active_pool: only meaningful with pools")
        for url in upstream.all_instances():
            reason = _url_problem(url)
            if reason:
                problems.append(f"{where}.instances: {url!r} {reason}")

    seen: set[str] = set()
    default = None
    for route in config.routes:
        where = f"routes[{route.id}]"
        if route.id in seen:
            problems.append(f"{where}.id: duplicate route id")
        seen.add(route.id)
        if route.id == DEFAULT_ROUTE_ID:
            default = route
        try:
            compile_pattern(route.path)
        except PatternError as exc:
            problems.append(f"{where}.path: {exc}")
        if route.upstream not in config.upstreams:
            problems.append(f"{where}.upstream: unknown upstream {route.upstream!r}")
        if route.fallback is not None and route.fallback not in config.upstreams:
            problems.append(f"{where}.fallback: unknown upstream {route.fallback!r}")
        if route.mode == "canary":
            if route.percent is None or not 0 <= route.percent <= 100:
                problems.append(f"{where}.percent: canary needs a percent between 0 and 100")
        elif route.percent is not None:
            problems.append(f"{where}.percent: only meaningful in canary mode")
    if default is None:
        problems.append(f"routes: a route with id {DEFAULT_ROUTE_ID!r} (path '/**') is mandatory")
        return problems
    where = f"routes[{DEFAULT_ROUTE_ID}]"
    if default.path != "/**":
        problems.append(f"{where}.path: the default route must match everything ('/**')")
    if default.mode != "monolith":
        problems.append(f"{where}.mode: the default route must be in monolith mode")
    if default.methods or default.headers or default.cookies:
        problems.append(f"{where}: the default route cannot have method/header/cookie conditions")
    for route in config.routes:
        if route.mode == "monolith" or route.upstream not in config.upstreams:
            continue
        fallback = route.fallback or default.upstream
        if fallback == route.upstream:
            problems.append(
                f"routes[{route.id}].upstream: mode {route.mode} needs a candidate upstream "
                f"different from the fallback {fallback!r}"
            )
    return problems


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be an origin only (no path, query or fragment)"
    return None


def dump_config(config: RoutesConfig) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude_defaults=False)


def load_default(path: Path | None, env: Mapping[str, str] | None = None) -> RoutesConfig:
    if path is not None:
        return load_config(path, env)
    return parse_config(
        {
            "upstreams": {"monolith": {"instances": "${MONOLITH_URL:-http://127.0.0.1:8000}"}},
            "routes": [{"id": DEFAULT_ROUTE_ID, "path": "/**", "upstream": "monolith"}],
        },
        env,
    )
