"""Redaction before anything about a shadowed request is stored or shown.

Credentials never leave the process: Cookie, Set-Cookie, Authorization and
Proxy-Authorization values, query-string parameters that look like tokens, and the
values of configured PII fields (in bodies and in diffs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from facade.compare import MASK, Diff, mask_json

SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
_TOKENISH = re.compile(
    r"token|key|secret|passw|auth|session|sig|code|jwt|credential|ticket", re.IGNORECASE
)


def redact_headers(headers: Iterable[tuple[bytes | str, bytes | str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in headers:
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        out.append((key, MASK if key.lower() in SECRET_HEADERS else text))
    return out


def mask_target(target: str, pii: frozenset[str] = frozenset()) -> str:
    """``/x?token=abc&page=2`` -> ``/x?token=[masked]&page=2`` (PII names masked too)."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for pair in query.split("&"):
        name, eq, _value = pair.partition("=")
        if eq and (_TOKENISH.search(name) or name.lower() in pii):
            parts.append(f"{name}={MASK}")
        else:
            parts.append(pair)
    return path + "?" + "&".join(parts)


def mask_body(value: Any, pii: frozenset[str]) -> Any:
    """A parsed JSON body with the PII fields' values masked (at any depth)."""
    return mask_json(value, pii) if pii else value


def redact_diffs(diffs: Sequence[Diff], pii: frozenset[str]) -> list[dict[str, Any]]:
    """Diffs as stored: PII fields and secret headers masked whatever the rules said."""
    out = []
    for diff in diffs:
        item = diff.as_dict()
        secret = diff.path.startswith("header:") and diff.path[7:] in SECRET_HEADERS
        if secret or _touches(diff.path, pii):
            item["primary"] = MASK if diff.primary is not None else None
            item["candidate"] = MASK if diff.candidate is not None else None
        out.append(item)
    return out


_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[\"((?:[^\"\\]|\\.)*)\"\]")


def _touches(path: str, pii: frozenset[str]) -> bool:
    if not pii or not path.startswith("$"):
        return False
    return any((m.group(1) or m.group(2) or "").lower() in pii for m in _SEGMENT.finditer(path))
