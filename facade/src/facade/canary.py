"""Sticky canary assignment: the same key always lands on the same side of the split."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from facade.matching import parse_cookies


def sticky_key(
    sources: list[str], header: Callable[[str], str | None], client: str | None
) -> str | None:
    """First present source: ``header:NAME``, ``cookie:NAME`` or ``client`` (address)."""
    cookies: dict[str, str] | None = None
    for source in sources:
        kind, _, name = source.partition(":")
        if kind == "header":
            value = header(name.lower())
            if value:
                return f"h:{value}"
        elif kind == "cookie":
            if cookies is None:
                cookies = parse_cookies(header("cookie"))
            value = cookies.get(name)
            if value:
                return f"c:{value}"
        elif kind == "client" and client:
            return f"a:{client}"
    return None


def bucket(route_id: str, key: str) -> float:
    """A stable position in [0, 100) for this key on this route, the same on every replica."""
    digest = hashlib.blake2b(f"{route_id}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100.0


def goes_to_candidate(
    route_id: str, percent: float, key: str | None, fallback_random: float
) -> bool:
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    position = bucket(route_id, key) if key is not None else fallback_random * 100
    return position < percent
