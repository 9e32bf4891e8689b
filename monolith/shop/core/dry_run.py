"""Dry runs for the facade's shadow copies of writes (``X-Strangler-Dry-Run: 1``).

When the monolith is the *candidate* of a shadowed write route, the facade sends it a copy
of each write with that header. The request then runs for real inside one transaction per
database, which is rolled back at the end: the answer is what the write would have
produced, and the data is as before. The answer says so with
``X-Strangler-Dry-Run: rolled-back``; the facade counts any other answer as an error.

Sits before the session middleware, so a session the request creates or changes is
rolled back with everything else. Outbox rows roll back too (they share the transaction),
so no event leaves for a write that never happened.

Who may ask: only peers whose socket address is in ``DRY_RUN_TRUSTED_NETWORKS``
(default: loopback). The facade strips the header from everything a client sends, and
forwarding headers are not consulted (a client could set them), so a client can neither
ask for a dry run nor fake one. Anyone else sending the header gets a 403 and nothing runs.

Refused (422, nothing runs) when the request could not be undone by a rollback:
- the view is marked ``@dry_run_unsafe`` (it talks to something outside the databases),
- sessions are kept outside the database (a cache-backed session would survive).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import Resolver404, resolve

from shop.api.problems import PROBLEM_CONTENT_TYPE, problem_body

HEADER = "X-Strangler-Dry-Run"
_META = "HTTP_X_STRANGLER_DRY_RUN"
CONFIRMED = "rolled-back"
_SAFE_SESSIONS = frozenset(
    {"django.contrib.sessions.backends.db", "django.contrib.sessions.backends.signed_cookies"}
)

F = TypeVar("F", bound=Callable[..., Any])


def dry_run_unsafe(view: F) -> F:
    """Mark a view (function or class) whose effects a database rollback cannot undo."""
    view.dry_run_unsafe = True  # type: ignore[attr-defined]
    return view


def trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = getattr(settings, "DRY_RUN_TRUSTED_NETWORKS", ["127.0.0.0/8", "::1/128"])
    return [ipaddress.ip_network(n.strip(), strict=False) for n in raw if n.strip()]


def _trusted(request: HttpRequest) -> bool:
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in network for network in trusted_networks())


def _unsafe_reason(request: HttpRequest) -> str | None:
    if settings.SESSION_ENGINE not in _SAFE_SESSIONS:
        return f"sessions are kept outside the database ({settings.SESSION_ENGINE})"
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    view = match.func
    if getattr(view, "dry_run_unsafe", False) or getattr(
        getattr(view, "cls", None) or getattr(view, "view_class", None), "dry_run_unsafe", False
    ):
        return f"{match.view_name or request.path_info} has effects outside the database"
    return None


def _problem(request: HttpRequest, status: int, slug: str, detail: str) -> HttpResponse:
    body = problem_body(status=status, slug=slug, detail=detail, instance=request.path)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


class DryRunMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _META not in request.META:
            return self.get_response(request)
        if not _trusted(request):
            return _problem(
                request, 403, "dry-run-refused", "dry runs are accepted from the facade only"
            )
        reason = _unsafe_reason(request)
        if reason is not None:
            return _problem(
                request, 422, "dry-run-unsupported", f"cannot run as a dry run: {reason}"
            )
        aliases = list(connections)
        with contextlib.ExitStack() as stack:
            for alias in aliases:
                stack.enter_context(transaction.atomic(using=alias))
            response = self.get_response(request)
            if isinstance(response, StreamingHttpResponse):
                # The body must be produced while the transaction is still open.
                content = b"".join(response.streaming_content)
                plain = HttpResponse(content, status=response.status_code)
                for name, value in response.items():
                    plain[name] = value
                plain.cookies = response.cookies
                response = plain
            for alias in aliases:
                transaction.set_rollback(True, using=alias)
        response[HEADER] = CONFIRMED
        return response
