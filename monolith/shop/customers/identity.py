"""The identity bridge's legacy side: who a session cookie or API token belongs to.

``GET /_internal/identity`` is asked by the facade, never by a browser. Given the
request's session cookie or ``Authorization: Token <key>`` (token first, like the API's
authentication), it answers ``{"user_id", "username", "is_staff", "scopes", "via"}``, or
a 401 problem for anyone anonymous. The facade turns the answer into a short-lived signed
token for the extracted services, which never see Django's sessions or tokens.

Who may ask: peers whose socket address is in ``IDENTITY_TRUSTED_NETWORKS`` (default:
loopback), and only with a request the facade did not proxy. A proxied request always
carries ``X-Forwarded-Proto``; the facade's own lookup never does. So a client that
reaches the facade cannot use it to ask here, even though the facade's address is trusted
(the facade also refuses ``/_internal/`` paths itself). Anyone else gets a 404, as if the
endpoint did not exist.

CSRF: for a write an extracted service will answer, the facade also sends what Django's
CSRF check reads (``X-CSRFToken``, ``Origin``, ``Referer``, the csrftoken cookie) and
``X-Strangler-Csrf-Check: <method>``, with the scheme and host the client used
(``X-Strangler-Csrf-Scheme``, ``X-Strangler-Csrf-Host``). The answer then carries
``"csrf": {"passed", "reason"}``: the verdict of Django's own ``CsrfViewMiddleware`` (as
DRF's session authentication runs it, CSRF_TRUSTED_ORIGINS included) on the write as the
monolith would have received it through the facade. Only session identities need it: an
API token is no ambient credential. The facade keeps no verdict beyond its request.

Logout: every login or logout (storefront, API, admin: Django's signals cover them all)
marks its response with ``X-Strangler-Identity-Revoked: 1``. The facade, which proxies
that response, drops whatever it cached for the request's credentials and strips the
header; the client never sees it.
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.authentication import CSRFCheck
from rest_framework.authtoken.models import Token

from shop.api.problems import problem_response

REVOKED_HEADER = "X-Strangler-Identity-Revoked"
# Permissions of these apps travel as scopes: what extracted services may check.
SCOPE_APPS = ("catalog",)
CSRF_CHECK = "HTTP_X_STRANGLER_CSRF_CHECK"
CSRF_SCHEME = "HTTP_X_STRANGLER_CSRF_SCHEME"
CSRF_HOST = "HTTP_X_STRANGLER_CSRF_HOST"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _trusted(request: HttpRequest) -> bool:
    raw = getattr(settings, "IDENTITY_TRUSTED_NETWORKS", ["127.0.0.0/8", "::1/128"])
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(n, strict=False) for n in raw if n.strip())


def _proxied(request: HttpRequest) -> bool:
    meta = request.META
    return "HTTP_X_FORWARDED_PROTO" in meta or "HTTP_X_FORWARDED_FOR" in meta


def trusted_internal_caller(request: HttpRequest) -> bool:
    """A trusted peer's own request (never one the facade proxied): who may ask ``/_internal/``.

    The identity lookup and the checkout saga's participant endpoints
    (``shop.participants``) share this guard.
    """
    return _trusted(request) and not _proxied(request)


def scopes(user: Any) -> list[str]:
    return sorted(p for p in user.get_all_permissions() if p.partition(".")[0] in SCOPE_APPS)


def _token_user(header: str) -> AbstractBaseUser | None:
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "token" or not key or " " in key:
        return None
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    user: AbstractBaseUser = token.user
    return user


def csrf_failure_reason(request: HttpRequest) -> str | None:
    """Django's CSRF verdict on the write the facade describes; None when it passes.

    The check runs on a copy of this request that looks like the proxied write: its
    method, the client's scheme and host as the facade forwards them (X-Forwarded-Proto
    and -Host, which the settings trust behind the facade), no body. So Origin, Referer,
    the token and CSRF_TRUSTED_ORIGINS are judged exactly as for a write to the monolith.
    """
    method = request.META.get(CSRF_CHECK, "").strip().upper()
    # The lookup's own CSRF state (set by the middleware on this GET) is not the write's.
    environ = {
        k: v
        for k, v in request.META.items()
        if not k.startswith(("HTTP_X_STRANGLER_", "CSRF_COOKIE"))
    }
    environ.update(
        REQUEST_METHOD=method if method and method not in _SAFE_METHODS else "POST",
        CONTENT_TYPE="",
        CONTENT_LENGTH="0",
        **{"wsgi.input": io.BytesIO(b"")},
    )
    if request.META.get(CSRF_SCHEME):
        environ["HTTP_X_FORWARDED_PROTO"] = request.META[CSRF_SCHEME]
    if request.META.get(CSRF_HOST):
        environ["HTTP_X_FORWARDED_HOST"] = request.META[CSRF_HOST]
    write = WSGIRequest(environ)
    check = CSRFCheck(_unused_view)
    check.process_request(write)
    try:
        # DRF's CSRFCheck answers the reason it would refuse with, not a 403 response.
        reason: object = check.process_view(write, _unused_view, (), {})
    except DisallowedHost as exc:
        return f"Host not allowed ({exc})"
    return None if reason is None else str(reason)


def _unused_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()  # the check needs a view; the write's is in another service


@never_cache
@require_GET
def identity(request: HttpRequest) -> HttpResponse:
    if not trusted_internal_caller(request):
        return problem_response(
            request, status=404, slug="not-found", detail=f"Not found: {request.path}"
        )
    header = request.META.get("HTTP_AUTHORIZATION", "")
    user: Any
    if header.strip():
        user, via = _token_user(header), "token"
    else:
        user, via = request.user, "session"
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return problem_response(
            request,
            status=401,
            slug="not-authenticated",
            detail="No user is signed in with these credentials.",
        )
    answer: dict[str, Any] = {
        "user_id": user.pk,
        "username": user.get_username(),
        "is_staff": bool(user.is_staff),
        "scopes": scopes(user),
        "via": via,
    }
    if CSRF_CHECK in request.META:
        reason = csrf_failure_reason(request) if via == "session" else None
        answer["csrf"] = {"passed": reason is None, "reason": reason}
    return JsonResponse(answer)


def mark_revoked(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """``user_logged_in`` / ``user_logged_out``: the request's credentials change hands."""
    if request is not None:
        request.identity_revoked = True  # type: ignore[attr-defined]


class IdentityRevokedMiddleware:
    """Tells the facade (through the response it proxies) to forget the old identity."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "identity_revoked", False):
            response[REVOKED_HEADER] = "1"
        return response
