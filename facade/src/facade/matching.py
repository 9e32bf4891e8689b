"""Path patterns and the immutable route table.

Pattern syntax: literal segments, ``{name}`` (one segment), ``{name:int}``,
``{name:path}`` (the rest, last only) and a trailing ``/**`` that matches the path
itself, with or without a trailing slash, and everything beneath it. Routes are tried
in file order, first match wins; the default route (``/**``) is always tried last.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie

from facade.config import DEFAULT_ROUTE_ID, RouteConfig, RoutesConfig

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(?::(int|path|str))?\}$")
_SEGMENT_CHARS = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]*$")


class PatternError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Pattern:
    source: str
    regex: re.Pattern[str] | None
    literal: str | None
    """Set when the pattern has no parameters: matched by string equality."""

    def match(self, path: str) -> dict[str, str] | None:
        if self.literal is not None:
            return {} if path == self.literal else None
        assert self.regex is not None
        found = self.regex.fullmatch(path)
        return None if found is None else found.groupdict()

    def sample_paths(self) -> list[str]:
        """A few concrete paths this pattern matches (for overlap analysis)."""
        base = self.source.removesuffix("/**") if self.source.endswith("/**") else self.source
        variants = [
            re.sub(r"\{[^}]*:int\}", "7", base),
            re.sub(r"\{[^}]*:int\}", "123456", base),
        ]
        out: list[str] = []
        for v in variants:
            for seg, path_seg in (("s", "a/b"), ("sample-x", "z")):
                p = re.sub(r"\{[A-Za-z_][A-Za-z0-9_]*(:str)?\}", seg, v)
                p = re.sub(r"\{[^}]*:path\}", path_seg, p)
                out.append(p or "/")
        if self.source.endswith("/**"):
            root = out[0].rstrip("/")
            out += [root or "/", root + "/", root + "/x", root + "/x/y/"]
        return sorted({p for p in out if p.startswith("/")})


def compile_pattern(source: str) -> Pattern:
    if not source.startswith("/"):
        raise PatternError(f"{source!r} must start with '/'")
    if "?" in source or "#" in source:
        raise PatternError(f"{source!r} must not contain a query or fragment")
    recursive = source.endswith("/**")
    body = source[:-3] if recursive else source
    segments = body.split("/")[1:] if body else []
    parts: list[str] = []
    names: set[str] = set()
    has_params = False
    for i, segment in enumerate(segments):
        param = _PARAM.match(segment)
        if param:
            name, kind = param.group(1), param.group(2) or "str"
            if name in names:
                raise PatternError(f"parameter {{{name}}} appears twice")
            names.add(name)
            has_params = True
            if kind == "path":
                if i != len(segments) - 1 or recursive:
                    raise PatternError(f"{{{name}:path}} must be the last segment")
                parts.append(f"(?P<{name}>.*)")
            else:
                parts.append(f"(?P<{name}>{'[0-9]+' if kind == 'int' else '[^/]+'})")
        elif "{" in segment or "}" in segment or "*" in segment:
            raise PatternError(
                f"segment {segment!r}: use {{name}}, {{name:int}}, {{name:path}} or a final /**"
            )
        elif not _SEGMENT_CHARS.match(segment):
            raise PatternError(f"segment {segment!r} has characters not allowed in a path")
        else:
            parts.append(re.escape(segment))
    joined = "/" + "/".join(parts) if segments else ""
    if recursive:
        return Pattern(source, re.compile(joined + r"(?:/.*)?"), None)
    if not has_params:
        return Pattern(source, None, body or "/")
    return Pattern(source, re.compile(joined), None)


HeaderLookup = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    config: RouteConfig
    pattern: Pattern
    methods: frozenset[str] | None
    fallback: str
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return self.config.id

    def conditions_match(self, header: HeaderLookup) -> bool:
        for name, expected in self.headers:
            value = header(name)
            if value is None or (expected != "*" and value != expected):
                return False
        if self.cookies:
            jar = parse_cookies(header("cookie"))
            for name, expected in self.cookies:
                got = jar.get(name)
                if got is None or (expected != "*" and got != expected):
                    return False
        return True


def parse_cookies(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        out: dict[str, str] = {}
        for part in raw.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                out.setdefault(name, value)
        return out
    return {k: m.value for k, m in jar.items()}


def _methods(methods: list[str] | None) -> frozenset[str] | None:
    if not methods:
        return None
    # HEAD is GET without a body: a GET route takes HEAD too, as Django and Starlette do.
    return frozenset(methods) | ({"HEAD"} if "GET" in methods else set())


_CACHE_SIZE = 4096


def _no_headers(_: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Immutable: a swap replaces the whole table, in-flight requests keep theirs."""

    config: RoutesConfig
    routes: tuple[CompiledRoute, ...]
    default: CompiledRoute
    version: int = 0
    by_id: Mapping[str, CompiledRoute] = field(default_factory=dict)
    _cache: dict[tuple[str, str], CompiledRoute] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _cacheable: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Without header or cookie conditions a route depends on method and path alone.
        plain = not any(r.headers or r.cookies for r in self.routes)
        object.__setattr__(self, "_cacheable", plain)

    @classmethod
    def build(cls, config: RoutesConfig, version: int = 0) -> RouteTable:
        default_upstream = config.default_route().upstream
        compiled = []
        default: CompiledRoute | None = None
        for route in config.routes:
            item = CompiledRoute(
                config=route,
                pattern=compile_pattern(route.path),
                methods=_methods(route.methods),
                fallback=route.fallback or default_upstream,
                headers=tuple((k.lower(), v) for k, v in route.headers.items()),
                cookies=tuple(route.cookies.items()),
            )
            if route.id == DEFAULT_ROUTE_ID:
                default = item
            else:
                compiled.append(item)
        assert default is not None
        ordered = (*compiled, default)
        return cls(config, ordered, default, version, {r.id: r for r in ordered})

    def route(self, method: str, path: str, header: HeaderLookup = _no_headers) -> CompiledRoute:
        """``match`` without the parameters, remembered per (method, path) when it can be."""
        if not self._cacheable:
            return self.match(method, path, header)[0]
        key = (method, path)
        route = self._cache.get(key)
        if route is None:
            route = self.match(method, path, header)[0]
            cache = self._cache
            if len(cache) >= _CACHE_SIZE:
                cache.clear()  # many distinct paths: start over rather than grow
            cache[key] = route
        return route

    def match(
        self, method: str, path: str, header: HeaderLookup = _no_headers
    ) -> tuple[CompiledRoute, dict[str, str]]:
        for route in self.routes:
            if route.methods is not None and method not in route.methods:
                continue
            params = route.pattern.match(path)
            if params is None:
                continue
            if (route.headers or route.cookies) and not route.conditions_match(header):
                continue
            return route, params
        return self.default, {}
