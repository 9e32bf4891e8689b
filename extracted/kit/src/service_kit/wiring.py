"""App wiring every service repeats: the liveness probe and the legacy slash redirect.

Readiness and ``/metrics`` stay in each service: what "ready" means (a pool, an engine)
and whether producing the metrics blocks differ per service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response


def add_healthz(app: FastAPI) -> None:
    """``GET /healthz``: the process is alive (nothing else is checked)."""

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}


def add_slash_redirect(app: FastAPI, legacy_prefixes: tuple[str, ...]) -> None:
    """Redirect slashless legacy GETs (301), as Django's ``APPEND_SLASH`` did."""

    @app.middleware("http")  # only for the slash redirect; cheap and rare
    async def append_slash(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if (
            request.method in ("GET", "HEAD")
            and path.startswith(legacy_prefixes)
            and not path.endswith("/")
        ):
            query = request.scope.get("query_string", b"").decode("latin-1")
            return RedirectResponse(path + "/" + (f"?{query}" if query else ""), status_code=301)
        return await call_next(request)
