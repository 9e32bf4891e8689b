"""Traffic without a recording: from the committed pacts or from an OpenAPI document.

Pact interactions often assume a provider state ("a product exists"); offline nobody sets
it up, so each such interaction is reported, and included or skipped on request. OpenAPI
operations become GET requests with their example or default parameter values; path
parameters come from ``--param``, ``--ids`` (id-like parameters) or a sample of the values
a running side's list endpoint returns.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import yaml

from strangler.compare_tool.traffic import TrafficRequest

DEFAULT_EXCLUDE = ("/healthz", "/readyz", "/metrics")
_PARAM = re.compile(r"\{([^}/]+)\}")


class GenerateError(ValueError):
    """Unreadable or invalid input for generation (the message says which and why)."""


@dataclass(slots=True)
class Generated:
    requests: list[TrafficRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What needs attention: interactions that assume a state, operations skipped."""


# -- pacts ---------------------------------------------------------------------------------


def from_pacts(source: Path, *, with_states: bool = True) -> Generated:
    """Every HTTP interaction's request, in file order (message interactions have none)."""
    if not source.exists():
        raise GenerateError(f"{source}: no such pact file or directory")
    files = sorted(source.glob("*.json")) if source.is_dir() else [source]
    if not files:
        raise GenerateError(f"{source}: no pact files (*.json) in it")
    out = Generated()
    for path in files:
        pact = _load(path)
        if not isinstance(pact, dict) or not isinstance(pact.get("interactions"), list):
            raise GenerateError(f"{path}: not a pact (no 'interactions' list)")
        pair = f"{_name(pact, 'consumer')} -> {_name(pact, 'provider')}"
        for interaction in pact["interactions"]:
            if not isinstance(interaction, dict):
                continue
            kind = interaction.get("type")
            request = interaction.get("request")
            if kind not in (None, "Synchronous/HTTP") or not isinstance(request, dict):
                continue
            description = interaction.get("description", "?")
            states = _states(interaction)
            if states:
                verdict = "included" if with_states else "skipped"
                out.notes.append(
                    f"{pair}: {description!r} needs provider state(s) "
                    f"{', '.join(repr(s) for s in states)} ({verdict})"
                )
                if not with_states:
                    continue
            try:
                out.requests.append(_pact_request(request, states))
            except (KeyError, TypeError, ValueError) as exc:
                raise GenerateError(f"{path}: interaction {description!r}: {exc}") from None
    return out


def _name(pact: Mapping[str, Any], role: str) -> str:
    party = pact.get(role)
    return str(party.get("name", "?")) if isinstance(party, dict) else "?"


def _states(interaction: Mapping[str, Any]) -> tuple[str, ...]:
    states = interaction.get("providerStates")
    if isinstance(states, list):
        return tuple(str(s.get("name")) for s in states if isinstance(s, dict))
    legacy = interaction.get("providerState")  # pact V2
    return (str(legacy),) if legacy else ()


def _pact_request(request: Mapping[str, Any], states: tuple[str, ...]) -> TrafficRequest:
    path = str(request["path"])
    query = request.get("query")
    if isinstance(query, dict) and query:
        path += "?" + urlencode(
            [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
        )
    elif isinstance(query, str) and query:
        path += "?" + query
    headers: dict[str, str] = {}
    for name, value in (request.get("headers") or {}).items():
        headers[name.lower()] = ", ".join(value) if isinstance(value, list) else str(value)
    return TrafficRequest(
        method=str(request.get("method", "GET")).upper(),
        path=path,
        headers=headers,
        body=_pact_body(request.get("body")),
        states=states,
    )


def _pact_body(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, dict) and "content" in body:  # pact V4
        content = body["content"]
        if body.get("encoded") == "base64":
            return base64.b64decode(content)
        return content.encode() if isinstance(content, str) else json.dumps(content).encode()
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


# -- OpenAPI ---------------------------------------------------------------------------------

Fetch = Callable[[str], Any]
"""URL -> parsed JSON (None when it has none): how a list endpoint is sampled."""


def from_openapi(
    source: Path,
    *,
    ids: Sequence[str] = (),
    params: Mapping[str, Sequence[str]] | None = None,
    sample_from: str | None = None,
    sample_size: int = 3,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    fetch: Fetch | None = None,
) -> Generated:
    """One or more GET requests per GET operation (one per path parameter value)."""
    doc = _load(source)
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise GenerateError(f"{source}: not an OpenAPI document (no 'paths')")
    params = params or {}
    sampler = _Sampler(sample_from, sample_size, fetch) if sample_from else None
    out = Generated()
    for template, item in doc["paths"].items():
        if not isinstance(item, dict) or not isinstance(item.get("get"), dict):
            continue
        if any(fnmatch.fnmatchcase(template, pattern) for pattern in exclude):
            continue
        op = item["get"]
        declared = [*(item.get("parameters") or []), *(op.get("parameters") or [])]
        values: dict[str, list[str]] = {}
        query: list[tuple[str, str]] = []
        missing: list[str] = []
        for param in declared:
            if not isinstance(param, dict) or "name" not in param:
                continue
            name, where = str(param["name"]), param.get("in")
            given = list(params.get(name, ()))
            if where == "path":
                found = given or (list(ids) if ids and _id_like(name, param) else [])
                if not found and sampler is not None:
                    found = sampler.values(template, name)
                if not found:
                    found = [v for v in (_example(param),) if v is not None]
                if found:
                    values[name] = found
                else:
                    missing.append(name)
            elif where == "query":
                value = given[0] if given else _example(param)
                if value is not None:
                    query.append((name, value))
                elif param.get("required"):
                    missing.append(name)
        unknown = [n for n in _PARAM.findall(template) if n not in values and n not in missing]
        missing += unknown
        if missing:
            out.notes.append(
                f"GET {template} skipped: no value for {', '.join(missing)} "
                "(give --param NAME=VALUES, --ids or --sample-from)"
            )
            continue
        count = max((len(v) for v in values.values()), default=1)
        suffix = "?" + urlencode(query) if query else ""
        for i in range(count):
            path = _fill(template, values, i)
            out.requests.append(
                TrafficRequest("GET", path + suffix, {"accept": "application/json"})
            )
    return out


def _fill(template: str, values: Mapping[str, list[str]], i: int) -> str:
    """The template with the i-th value of each parameter (shorter lists wrap around)."""

    def value(match: re.Match[str]) -> str:
        choices = values[match.group(1)]
        return quote(choices[i % len(choices)], safe="")

    return _PARAM.sub(value, template)


def _id_like(name: str, param: Mapping[str, Any]) -> bool:
    schema = param.get("schema") or {}
    lowered = name.lower()
    return (
        lowered == "id"
        or lowered.endswith(("_id", "-id", "pk"))
        or name.endswith("Id")
        or schema.get("type") == "integer"
    )


def _example(param: Mapping[str, Any]) -> str | None:
    """The parameter's example, else its default (also inside anyOf/oneOf variants)."""
    if "example" in param:
        return _text(param["example"])
    examples = param.get("examples")
    if isinstance(examples, dict):
        for example in examples.values():
            if isinstance(example, dict) and "value" in example:
                return _text(example["value"])
    schema = param.get("schema") or {}
    for candidate in (schema, *schema.get("anyOf", ()), *schema.get("oneOf", ())):
        if not isinstance(candidate, dict):
            continue
        for key in ("example", "default"):
            if candidate.get(key) is not None:
                return _text(candidate[key])
        listed = candidate.get("examples")
        if isinstance(listed, list) and listed:
            return _text(listed[0])
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


class _Sampler:
    """Path parameter values read from a running side's list endpoints.

    For ``/api/products/sku/{sku}/`` it tries ``/api/products/sku/`` then ``/api/products/``
    and takes the ``sku`` of the listed items (``id`` for ``product_id``).
    """

    def __init__(self, base: str, size: int, fetch: Fetch | None) -> None:
        self.base = base.rstrip("/")
        self.size = size
        self.fetch = fetch or self._get
        self._seen: dict[str, Any] = {}

    def _get(self, url: str) -> Any:
        try:
            response = httpx.get(url, headers={"accept": "application/json"}, timeout=10)
        except httpx.HTTPError as exc:
            raise GenerateError(f"cannot sample values from {url}: {exc}") from None
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def values(self, template: str, name: str) -> list[str]:
        head = template.split("{" + name, 1)[0]
        segments = [s for s in head.split("/") if s]
        fields = [name]
        if name.lower() != "id" and name.lower().endswith(("_id", "id")):
            fields.append("id")
        for depth in range(len(segments), 0, -1):
            url = self.base + "/" + "/".join(segments[:depth]) + "/"
            if url not in self._seen:
                self._seen[url] = self.fetch(url)
            items = _items(self._seen[url])
            for field_name in fields:
                found = list(
                    dict.fromkeys(
                        _text(item[field_name])
                        for item in items
                        if isinstance(item, dict) and item.get(field_name) is not None
                    )
                )
                if found:
                    return found[: self.size]
        return []


def _items(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in ("results", "items", "data"):
            if isinstance(document.get(key), list):
                return list(document[key])
    return []


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GenerateError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GenerateError(f"{path}: cannot read ({exc})") from None
    try:
        return yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise GenerateError(
            f"{path}: invalid {path.suffix.lstrip('.') or 'JSON'} ({exc})"
        ) from None
