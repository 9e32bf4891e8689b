"""The migration dashboard: a static page at ``/_strangler/`` and the overview it polls.

The page, its script and stylesheet ship as package data and are read once through
``importlib.resources``: no build step, nothing to install next to the facade. The page
holds no data of its own; it polls ``/_strangler/api/overview`` (and ``parity``) with the
admin token the user types in, so the page itself needs no authentication.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from typing import Any

from facade.problem import send_bytes, send_problem
from facade.state import AuditLog, Snapshot
from facade.types import RawHeaders, Scope, Send
from facade.window import WINDOW_SECONDS, RollingStats

PAGE_PREFIX = "/_strangler"
AUDIT_ENTRIES = 20

_ASSETS = {
    "": ("index.html", b"text/html; charset=utf-8"),
    "index.html": ("index.html", b"text/html; charset=utf-8"),
    "dashboard.js": ("dashboard.js", b"text/javascript; charset=utf-8"),
    "dashboard.css": ("dashboard.css", b"text/css; charset=utf-8"),
}
# The page renders data from the API; should any of it ever slip into markup, the
# policy still refuses inline script, other origins and framing.
_HEADERS: RawHeaders = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def is_page(path: str) -> bool:
    """A dashboard path (not the admin API under ``/_strangler/api``)."""
    if path == PAGE_PREFIX:
        return True
    return path.startswith(PAGE_PREFIX + "/") and path[len(PAGE_PREFIX) + 1 :] in _ASSETS


async def serve_page(scope: Scope, send: Send, path: str) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        return await send_problem(
            send, 405, "the dashboard is read-only: use GET", [(b"allow", b"GET, HEAD")]
        )
    if path == PAGE_PREFIX:  # relative asset links need the trailing slash
        return await send_bytes(
            send, 308, b"", b"text/plain", [(b"location", PAGE_PREFIX.encode() + b"/")]
        )
    name, content_type = _ASSETS[path[len(PAGE_PREFIX) + 1 :]]
    await send_bytes(send, 200, _asset(name), content_type, _HEADERS)


@functools.cache
def _asset(name: str) -> bytes:
    return (resources.files(__name__) / name).read_bytes()


async def overview(snap: Snapshot, window: RollingStats, audit: AuditLog) -> dict[str, Any]:
    """Every route with its mode, breakers and last-minute figures per side; recent audit."""
    routes = []
    for route in snap.table.routes:
        cfg = route.config
        names = tuple(dict.fromkeys((route.fallback, cfg.upstream)))
        breakers = {
            name: snap.upstreams[name].breaker.state.name.lower().replace("_", "-")
            for name in names
            if name in snap.upstreams
        }
        routes.append(
            {
                "id": route.id,
                "path": cfg.path,
                "mode": cfg.mode,
                "percent": cfg.percent,
                "upstream": cfg.upstream,
                "fallback": route.fallback,
                "breakers": breakers,
                "sides": window.route(route.id, names),
            }
        )
    window.prune({route.id for route in snap.table.routes})
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "window_seconds": WINDOW_SECONDS,
        "routes": routes,
        "audit": await audit.recent(AUDIT_ENTRIES),
    }
