"""RFC 9457 problem details, shaped and rendered exactly like the monolith's.

Every service answers errors the way the monolith's DRF views did, so a client cannot
tell which side served it. The body is built here once; what differs per service comes
in through ``install``: the ``type`` URL base, the JSON renderer (byte-identical to DRF's)
and the logger unexpected errors are reported under.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM = "application/problem+json"


class Problem(Exception):
    """A problem answer; ``title=None`` is the status phrase (DRF's own exceptions)."""

    def __init__(
        self, status: int, slug: str, detail: str, *, title: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
        extra: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.status, self.slug, self.detail, self.title = status, slug, detail, title
        self.errors, self.extra, self.headers = errors, extra, headers
        super().__init__(detail)


def not_found(detail: str) -> Problem:  # the monolith's domain NotFound
    return Problem(404, "not-found", detail, title="Not found")


def install(
    app: FastAPI, *, type_base: str, render: Callable[[object], bytes], logger: logging.Logger
) -> None:
    """Answer every error of ``app`` with a problem: raised ones, validation, routing, bugs."""
    app.state.problem_type_base = type_base
    app.state.render_problem = render

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s", request.url.path)
        return problem_response(
            request, Problem(500, "server-error", "The server could not answer this request.")
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def problem_response(request: Request, problem: Problem) -> Response:
    base: str = request.app.state.problem_type_base
    render: Callable[[object], bytes] = request.app.state.render_problem
    body: dict[str, Any] = {
        "type": f"{base}{problem.slug}",
        "title": problem.title or HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
    }
    if problem.errors:
        body["errors"] = {k: [str(m) for m in v] for k, v in problem.errors.items()}
    if problem.extra:
        body.update(problem.extra)
    return Response(render(body), status_code=problem.status, media_type=PROBLEM,
                    headers=dict(problem.headers or {}))  # fmt: skip


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(request, exc)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body")]
        errors.setdefault(".".join(loc) or "non_field_errors", []).append(str(error["msg"]))
    return problem_response(
        request, Problem(400, "validation-error", "Some fields are invalid.", errors=errors)
    )


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    if exc.status_code == 404:
        detail = f"No API endpoint at {path}."
        if path.startswith("/api/") and not path.endswith("/"):
            detail += f" API paths end with a slash: try {path}/"
        return problem_response(request, Problem(404, "not-found", detail))
    if exc.status_code == 405:
        return problem_response(
            request, Problem(405, "method-not-allowed", f'Method "{request.method}" not allowed.')
        )
    return problem_response(request, Problem(exc.status_code, "error", str(exc.detail)))
