"""JSON-aware comparison of two HTTP answers: pure functions, no I/O.

The facade's shadow workers use it, and so can an offline replay tool::

    from facade.compare import CompareRules, NoiseModel, Observed, compare, learn_noise

    rules = CompareRules.build(
        headers=["content-type"],
        ignore=["$.results[*].updated_at"],
        tolerance={"absolute": 0.01},
        unordered=[{"path": "$.results", "key": "id"}],
        normalisers=["decimal", {"name": "casefold", "paths": ["$..email"]}],
        mask=["email", "phone"],
    )
    primary = Observed(200, [(b"content-type", b"application/json")], b'{"price": "12.50"}')
    candidate = Observed(200, [(b"content-type", b"application/json")], b'{"price": 12.5}')
    result = compare(primary, candidate, rules)          # -> Comparison
    result.matched, [(d.path, d.kind) for d in result.diffs]

- ``Observed``: status, headers (bytes or str pairs) and body bytes (None: not captured).
- ``compare(primary, candidate, rules, noise=None) -> Comparison``: status, the headers
  ``rules.headers`` names, then the body: structurally when both sides are JSON (paths
  such as ``$.results[3].price``), byte-wise otherwise. Diffs whose field (the path with
  array indices collapsed to ``[*]``) the noise model covers land in ``Comparison.noise``,
  not in ``Comparison.diffs``.
- ``learn_noise(first, second, rules)``: the fields where two answers of the *same*
  upstream to the same request differ (Diffy's primary/secondary trick).
- Paths in rules are glob-ish JSON paths: ``$.a.b``, ``$.items[*].id``, ``$.*.x`` (any
  key or index), ``$..updated_at`` (at any depth), ``$["odd key"]``, ``$.items[0]``. An
  ignore path ignores the whole subtree below it.
- Normalisers (``NORMALISERS``, extend with ``register_normaliser``) map a leaf value to
  a canonical form before the comparison: ``decimal`` ("12.50" == 12.5),
  ``url-trailing-slash``, ``iso-timestamp`` (same instant), ``casefold``, ``trim``.
- Values in diffs are rendered as text (strings as they are, anything else as compact
  JSON), truncated, with the ``mask`` field names' values replaced by ``[masked]``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

DiffKind = Literal[
    "changed", "missing-in-candidate", "extra-in-candidate", "type-changed", "status", "header"
]
Segment = str | int
Path = tuple[Segment, ...]
MASK = "[masked]"
_MISSING: Any = object()
_MAX_DECODED = 8 * 1024 * 1024
_MAX_PAIRING_WORK = 250_000


class RuleError(ValueError):
    """An invalid path pattern, normaliser name or rule."""


# -- paths -------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Path, *, collapse: bool = False) -> str:
    """``("results", 3, "price")`` -> ``$.results[3].price`` (``[*]`` with ``collapse``)."""
    out = ["$"]
    for seg in path:
        if isinstance(seg, int):
            out.append("[*]" if collapse else f"[{seg}]")
        elif _IDENT.match(seg):
            out.append("." + seg)
        else:
            out.append("[" + json.dumps(seg) + "]")
    return "".join(out)


def field_of(path: str) -> str:
    """A formatted path with its array indices collapsed: ``$.a[3].b`` -> ``$.a[*].b``."""
    return re.sub(r"\[\d+\]", "[*]", path)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: Literal["key", "index", "any", "any_index", "descend"]
    value: Segment = ""


@dataclass(frozen=True, slots=True)
class PathPattern:
    """A compiled glob-ish JSON path (see the module docstring)."""

    text: str
    tokens: tuple[_Tok, ...]

    @classmethod
    def parse(cls, text: str) -> PathPattern:
        return cls(text, _parse_tokens(text))

    def matches(self, path: Path) -> bool:
        return _match(self.tokens, 0, path, 0)


_KEY_CHARS = re.compile(r"[A-Za-z0-9_\-]+|\*")


def _parse_tokens(text: str) -> tuple[_Tok, ...]:
    if not isinstance(text, str) or not text.startswith("$"):
        raise RuleError(f"JSON path {text!r} must start with '$'")
    tokens: list[_Tok] = []
    i, n = 1, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("..", i):
            tokens.append(_Tok("descend"))
            i += 2
            if i < n and text[i] == "[":
                continue
            i = _key(text, i, tokens)
        elif ch == ".":
            i = _key(text, i + 1, tokens)
        elif ch == "[":
            end = text.find("]", i)
            if end < 0:
                raise RuleError(f"JSON path {text!r}: unclosed '['")
            inner = text[i + 1 : end].strip()
            if inner == "*":
                tokens.append(_Tok("any_index"))
            elif inner.isdigit():
                tokens.append(_Tok("index", int(inner)))
            elif len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
                tokens.append(_Tok("key", inner[1:-1]))
            else:
                raise RuleError(f'JSON path {text!r}: [{inner}] is not [N], [*] or ["key"]')
            i = end + 1
        else:
            raise RuleError(f"JSON path {text!r}: unexpected {ch!r} at {i}")
    if tokens and tokens[-1].kind == "descend":
        raise RuleError(f"JSON path {text!r}: '..' needs a name after it")
    return tuple(tokens)


def _key(text: str, i: int, tokens: list[_Tok]) -> int:
    found = _KEY_CHARS.match(text, i)
    if not found:
        raise RuleError(f"JSON path {text!r}: expected a name at {i}")
    name = found.group(0)
    tokens.append(_Tok("any") if name == "*" else _Tok("key", name))
    return found.end()


def _match(tokens: tuple[_Tok, ...], ti: int, path: Path, pi: int) -> bool:
    if ti == len(tokens):
        return pi == len(path)
    tok = tokens[ti]
    if tok.kind == "descend":
        return any(_match(tokens, ti + 1, path, k) for k in range(pi, len(path) + 1))
    if pi == len(path):
        return False
    seg = path[pi]
    if tok.kind == "any":
        ok = True
    elif tok.kind == "any_index":
        ok = isinstance(seg, int)
    elif tok.kind == "index":
        ok = isinstance(seg, int) and seg == tok.value
    else:
        ok = isinstance(seg, str) and seg == tok.value
    return ok and _match(tokens, ti + 1, path, pi + 1)


def _patterns(texts: Iterable[str]) -> tuple[PathPattern, ...]:
    return tuple(PathPattern.parse(t) for t in texts)


def _any_match(patterns: Sequence[PathPattern], path: Path) -> bool:
    return any(p.matches(path) for p in patterns)


# -- normalisers -------------------------------------------------------------------------

Normaliser = Callable[[Any], Any]
"""Leaf value -> canonical value; values it does not apply to come back unchanged."""

_DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _decimal(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and _DECIMAL.match(value.strip()):
        return Decimal(value.strip())
    if isinstance(value, int | float):
        try:
            return Decimal(repr(value))
        except InvalidOperation:
            return value
    return value


def _url_trailing_slash(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(("http://", "https://", "/")):
        return value
    cut = min((i for i in (value.find("?"), value.find("#")) if i >= 0), default=len(value))
    head, tail = value[:cut], value[cut:]
    stripped = head.rstrip("/")
    if head.startswith("/") and not stripped:
        stripped = "/"
    return stripped + tail


def _iso_timestamp(value: Any) -> Any:
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    # Aware values compare as instants; naive ones only with naive ones.
    return parsed.astimezone(dt.UTC) if parsed.tzinfo is not None else parsed


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


NORMALISERS: dict[str, Normaliser] = {
    "decimal": _decimal,
    "url-trailing-slash": _url_trailing_slash,
    "iso-timestamp": _iso_timestamp,
    "casefold": _casefold,
    "trim": _trim,
}


def register_normaliser(name: str, normaliser: Normaliser) -> None:
    """Make ``name`` usable in ``CompareRules`` (and in routes files, once registered)."""
    NORMALISERS[name] = normaliser


# -- rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tolerance:
    absolute: float = 0.0
    relative: float = 0.0
    paths: tuple[PathPattern, ...] = ()
    """Where the tolerance applies; empty: every number."""

    def accepts(self, a: Any, b: Any) -> bool:
        fa, fb = float(a), float(b)
        allowed = max(self.absolute, self.relative * max(abs(fa), abs(fb)))
        return abs(fa - fb) <= allowed


@dataclass(frozen=True, slots=True)
class Unordered:
    path: PathPattern
    key: str | None = None
    """Pair elements by this field (objects); without it, by equality."""


@dataclass(frozen=True, slots=True)
class NormaliserRule:
    name: str
    fn: Normaliser
    paths: tuple[PathPattern, ...] = ()


@dataclass(frozen=True, slots=True)
class CompareRules:
    headers: tuple[str, ...] = ("content-type",)
    ignore: tuple[PathPattern, ...] = ()
    tolerance: Tolerance | None = None
    unordered: tuple[Unordered, ...] = ()
    normalisers: tuple[NormaliserRule, ...] = ()
    mask: frozenset[str] = frozenset()
    """Field names (any depth, case-insensitive) whose values never appear in diffs."""
    max_diffs: int = 100
    max_value_chars: int = 200

    @classmethod
    def build(
        cls,
        *,
        headers: Iterable[str] = ("content-type",),
        ignore: Iterable[str] = (),
        tolerance: Mapping[str, Any] | None = None,
        unordered: Iterable[str | Mapping[str, Any]] = (),
        normalisers: Iterable[str | Mapping[str, Any]] = (),
        mask: Iterable[str] = (),
        max_diffs: int = 100,
        max_value_chars: int = 200,
    ) -> CompareRules:
        """Rules from plain data (a routes file's ``compare:`` block); RuleError if invalid."""
        tol = None
        if tolerance is not None:
            tol = Tolerance(
                float(tolerance.get("absolute", 0.0)),
                float(tolerance.get("relative", 0.0)),
                _patterns(tolerance.get("paths") or ()),
            )
        unordered_rules = []
        for item in unordered:
            if isinstance(item, str):
                unordered_rules.append(Unordered(PathPattern.parse(item)))
            else:
                unordered_rules.append(Unordered(PathPattern.parse(item["path"]), item.get("key")))
        norm_rules = []
        for item in normalisers:
            name, paths = (item, ()) if isinstance(item, str) else (item["name"], item.get("paths"))
            fn = NORMALISERS.get(name)
            if fn is None:
                known = ", ".join(sorted(NORMALISERS))
                raise RuleError(f"unknown normaliser {name!r} (known: {known})")
            norm_rules.append(NormaliserRule(name, fn, _patterns(paths or ())))
        return cls(
            headers=tuple(h.lower() for h in headers),
            ignore=_patterns(ignore),
            tolerance=tol,
            unordered=tuple(unordered_rules),
            normalisers=tuple(norm_rules),
            mask=frozenset(m.lower() for m in mask),
            max_diffs=max_diffs,
            max_value_chars=max_value_chars,
        )


# -- observations and results ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observed:
    status: int
    headers: Sequence[tuple[bytes | str, bytes | str]] = ()
    body: bytes | None = b""
    """None when the body was not captured (too large): it is then not compared."""

    def header(self, name: str) -> str | None:
        values = [
            (v.decode("latin-1") if isinstance(v, bytes) else v).strip()
            for k, v in self.headers
            if (k.decode("latin-1") if isinstance(k, bytes) else k).lower() == name
        ]
        return ", ".join(values) if values else None


@dataclass(frozen=True, slots=True)
class Diff:
    path: str
    """``$.results[3].price``, ``status`` or ``header:content-type``."""
    kind: DiffKind
    primary: str | None
    candidate: str | None
    """Rendered, truncated, masked; None where the value is absent."""

    @property
    def field(self) -> str:
        return field_of(self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "primary": self.primary,
            "candidate": self.candidate,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    diffs: tuple[Diff, ...]
    """What counts against the candidate."""
    noise: tuple[Diff, ...] = ()
    """Differences in fields known to differ between two answers of the primary itself."""
    body_compared: bool = True
    truncated: bool = False
    """More than ``rules.max_diffs`` differences: the rest were not listed."""

    @property
    def matched(self) -> bool:
        return not self.diffs


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """Fields (indices collapsed) that differ on their own: they and their subtrees."""

    fields: frozenset[str] = field(default_factory=frozenset)

    def covers(self, path: str) -> bool:
        name = field_of(path)
        if name in self.fields:
            return True
        return any(name.startswith(f) and name[len(f)] in ".[" for f in self.fields if f != name)


def learn_noise(first: Observed, second: Observed, rules: CompareRules) -> frozenset[str]:
    """The fields where two answers of the same upstream differ: noise, not regressions."""
    return frozenset(d.field for d in compare(first, second, rules).diffs)


# -- the comparison ----------------------------------------------------------------------


def compare(
    primary: Observed,
    candidate: Observed,
    rules: CompareRules | None = None,
    noise: NoiseModel | None = None,
) -> Comparison:
    rules = rules or CompareRules()
    walker = _Walker(rules)
    if primary.status != candidate.status:
        walker.add(Diff("status", "status", str(primary.status), str(candidate.status)))
    for name in rules.headers:
        a, b = primary.header(name), candidate.header(name)
        if _header_value(name, a) != _header_value(name, b):
            if name in _SECRET_HEADERS:
                a, b = (MASK if a is not None else None), (MASK if b is not None else None)
            walker.add(Diff(f"header:{name}", "header", a, b))
    body_compared = primary.body is not None and candidate.body is not None
    if body_compared:
        walker.bodies(primary, candidate)
    diffs: list[Diff] = []
    noisy: list[Diff] = []
    for diff in walker.diffs:
        (noisy if noise is not None and noise.covers(diff.path) else diffs).append(diff)
    return Comparison(tuple(diffs), tuple(noisy), body_compared, walker.truncated)


_SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})


def _header_value(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if name == "content-type":
        return value.lower().replace(" ", "")
    return value


def _is_json(observed: Observed) -> bool:
    ctype = (observed.header("content-type") or "").lower()
    return "json" in ctype


def _decoded(observed: Observed) -> bytes:
    body = observed.body or b""
    encoding = (observed.header("content-encoding") or "").lower()
    if encoding not in ("gzip", "deflate") or not body:
        return body
    wbits = 31 if encoding == "gzip" else 15
    try:
        inflater = zlib.decompressobj(wbits)
        return inflater.decompress(body, _MAX_DECODED)
    except zlib.error:
        return body


class _Walker:
    def __init__(self, rules: CompareRules) -> None:
        self.rules = rules
        self.diffs: list[Diff] = []
        self.truncated = False

    def add(self, diff: Diff) -> None:
        if len(self.diffs) >= self.rules.max_diffs:
            self.truncated = True
            return
        self.diffs.append(diff)

    def bodies(self, primary: Observed, candidate: Observed) -> None:
        a, b = _decoded(primary), _decoded(candidate)
        if _is_json(primary) or _is_json(candidate):
            pa, pb = _parse(a), _parse(b)
            if pa is not _MISSING and pb is not _MISSING:
                self.walk(pa, pb, ())
                return
            if (pa is _MISSING) != (pb is _MISSING) and a and b:
                self.add(Diff("$", "type-changed", self._text(a), self._text(b)))
                return
        if a != b:
            self.add(Diff("$", "changed", self._text(a), self._text(b)))

    def _text(self, raw: bytes) -> str:
        return _truncate(raw.decode("utf-8", "replace"), self.rules.max_value_chars)

    def show(self, value: Any, path: Path) -> str | None:
        if value is _MISSING:
            return None
        mask = self.rules.mask
        if mask and any(isinstance(s, str) and s.lower() in mask for s in path):
            return MASK
        if mask:
            value = mask_json(value, mask)
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return _truncate(text, self.rules.max_value_chars)

    def diff(self, path: Path, kind: DiffKind, a: Any, b: Any) -> None:
        self.add(Diff(format_path(path), kind, self.show(a, path), self.show(b, path)))

    def walk(self, a: Any, b: Any, path: Path) -> None:
        if self.truncated or (self.rules.ignore and _any_match(self.rules.ignore, path)):
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key, value in a.items():
                if key in b:
                    self.walk(value, b[key], (*path, key))
                elif not _any_match(self.rules.ignore, (*path, key)):
                    self.diff((*path, key), "missing-in-candidate", value, _MISSING)
            for key, value in b.items():
                if key not in a and not _any_match(self.rules.ignore, (*path, key)):
                    self.diff((*path, key), "extra-in-candidate", _MISSING, value)
            return
        if isinstance(a, list) and isinstance(b, list):
            rule = next((u for u in self.rules.unordered if u.path.matches(path)), None)
            if rule is None:
                self._ordered(a, b, path)
            elif rule.key is not None:
                self._keyed(a, b, path, rule.key)
            else:
                self._pairs(a, b, path)
            return
        if isinstance(a, dict | list) or isinstance(b, dict | list):
            if type(a) is not type(b):
                self.diff(path, "type-changed", a, b)
            return
        if not self._leaf_equal(a, b, path):
            kind: DiffKind = "changed" if _json_type(a) == _json_type(b) else "type-changed"
            self.diff(path, kind, a, b)

    def _ordered(self, a: list[Any], b: list[Any], path: Path) -> None:
        for i in range(max(len(a), len(b))):
            if i >= len(b):
                self.diff((*path, i), "missing-in-candidate", a[i], _MISSING)
            elif i >= len(a):
                self.diff((*path, i), "extra-in-candidate", _MISSING, b[i])
            else:
                self.walk(a[i], b[i], (*path, i))

    def _keyed(self, a: list[Any], b: list[Any], path: Path, key: str) -> None:
        def index(items: list[Any]) -> dict[str, int]:
            found: dict[str, int] = {}
            for i, item in enumerate(items):
                if isinstance(item, dict) and key in item:
                    found.setdefault(json.dumps(item[key], sort_keys=True), i)
            return found

        ia, ib = index(a), index(b)
        rest_a = [i for i in range(len(a)) if i not in ia.values()]
        rest_b = [j for j in range(len(b)) if j not in ib.values()]
        for k, i in ia.items():
            if k in ib:
                self.walk(a[i], b[ib[k]], (*path, i))
            else:
                self.diff((*path, i), "missing-in-candidate", a[i], _MISSING)
        for k, j in ib.items():
            if k not in ia:
                self.diff((*path, j), "extra-in-candidate", _MISSING, b[j])
        self._pairs(a, b, path, rest_a, rest_b)

    def _pairs(
        self,
        a: list[Any],
        b: list[Any],
        path: Path,
        only_a: list[int] | None = None,
        only_b: list[int] | None = None,
    ) -> None:
        """Multiset comparison: equal elements pair up wherever they are."""
        left = list(range(len(a))) if only_a is None else only_a
        right = list(range(len(b))) if only_b is None else only_b
        if len(left) * len(right) > _MAX_PAIRING_WORK:
            for i, j in zip(left, right, strict=False):
                self.walk(a[i], b[j], (*path, i))
        else:
            unmatched_a: list[int] = []
            for i in left:
                for pos, j in enumerate(right):
                    probe = _Walker(self.rules)
                    probe.walk(a[i], b[j], (*path, i))
                    if not probe.diffs:
                        del right[pos]
                        break
                else:
                    unmatched_a.append(i)
            left = unmatched_a
            for i, j in zip(left, right, strict=False):
                self.walk(a[i], b[j], (*path, i))
        for i in left[len(right) :]:
            self.diff((*path, i), "missing-in-candidate", a[i], _MISSING)
        for j in right[len(left) :]:
            self.diff((*path, j), "extra-in-candidate", _MISSING, b[j])

    def _leaf_equal(self, a: Any, b: Any, path: Path) -> bool:
        if type(a) is type(b) and a == b:
            return True
        for rule in self.rules.normalisers:
            if not rule.paths or _any_match(rule.paths, path):
                a, b = rule.fn(a), rule.fn(b)
        if isinstance(a, bool) or isinstance(b, bool):
            return type(a) is type(b) and a == b
        if _is_number(a) and _is_number(b):
            if a == b:
                return True
            tol = self.rules.tolerance
            return (
                tol is not None
                and (not tol.paths or _any_match(tol.paths, path))
                and tol.accepts(a, b)
            )
        return bool(type(a) is type(b) and a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return _MISSING
    try:
        return json.loads(raw)
    except ValueError:
        return _MISSING


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def mask_json(value: Any, fields: frozenset[str]) -> Any:
    """A copy of a JSON value with the values of ``fields`` (lower-case names) masked."""
    if isinstance(value, dict):
        return {
            k: (MASK if k.lower() in fields else mask_json(v, fields)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_json(v, fields) for v in value]
    return value
