"""The traffic file: JSON lines, one request each.

``{"method": "GET", "path": "/api/products/?page=2", "headers": {"accept": "..."},
"body": null, "route": "catalog-products", "at": "2026-11-25T14:00:00Z"}``; ``body`` is
base64 or null, ``route`` and ``at`` are optional. The facade's recorder
(``FACADE_RECORD_FILE``) and ``strangler compare generate`` write it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TrafficError(ValueError):
    """A traffic file that cannot be read: the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class TrafficRequest:
    method: str
    path: str
    """Path with its query string, as sent."""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    route: str | None = None
    at: str | None = None
    line: int = 0
    """Where it came from in the traffic file (1-based; 0: not from a file)."""
    states: tuple[str, ...] = ()
    """Provider states the request assumes (generated from pacts)."""

    @property
    def path_only(self) -> str:
        return self.path.partition("?")[0]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": base64.b64encode(self.body).decode("ascii") if self.body else None,
        }
        if self.route is not None:
            out["route"] = self.route
        if self.at is not None:
            out["at"] = self.at
        if self.states:
            out["states"] = list(self.states)
        return out


def parse_line(text: str, line: int = 0, source: str = "<traffic>") -> TrafficRequest:
    where = f"{source}: line {line}"
    try:
        item = json.loads(text)
    except ValueError as exc:
        raise TrafficError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(item, dict):
        raise TrafficError(f"{where}: expected a JSON object, got {type(item).__name__}")
    method = item.get("method")
    if not isinstance(method, str) or not method.strip().isalpha():
        raise TrafficError(f"{where}: 'method' must be an HTTP method such as \"GET\"")
    path = item.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise TrafficError(f"{where}: 'path' must be a string starting with '/'")
    headers = item.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise TrafficError(f"{where}: 'headers' must be an object of strings")
    raw_body = item.get("body")
    body: bytes | None = None
    if raw_body is not None:
        if not isinstance(raw_body, str):
            raise TrafficError(f"{where}: 'body' must be base64 text or null")
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError):
            raise TrafficError(f"{where}: 'body' is not valid base64") from None
    route = item.get("route")
    if route is not None and not isinstance(route, str):
        raise TrafficError(f"{where}: 'route' must be a string")
    at = item.get("at")
    states = item.get("states") or ()
    return TrafficRequest(
        method=method.strip().upper(),
        path=path,
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        route=route,
        at=at if isinstance(at, str) else None,
        line=line,
        states=tuple(str(s) for s in states) if isinstance(states, list) else (),
    )


def read_traffic(path: Path) -> list[TrafficRequest]:
    """Every request of a traffic file; TrafficError on the first bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrafficError(f"{path}: no such traffic file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrafficError(f"{path}: cannot read ({exc})") from None
    requests = [
        parse_line(raw, number, str(path))
        for number, raw in enumerate(text.splitlines(), start=1)
        if raw.strip()
    ]
    if not requests:
        raise TrafficError(f"{path}: no requests in the traffic file")
    return requests


def dump_lines(requests: Iterable[TrafficRequest]) -> Iterator[str]:
    for request in requests:
        yield json.dumps(request.as_json(), separators=(",", ":"), ensure_ascii=False)
