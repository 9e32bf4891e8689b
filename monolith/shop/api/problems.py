"""RFC 9457 problem details for every error the JSON API returns.

Body: ``{"type", "title", "status", "detail", "instance"}`` plus ``"errors": {field: [msg]}``
for validation problems; content type ``application/problem+json``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from shop.core.errors import DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# DRF exception -> problem type slug
_SLUGS: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "malformed-request",
    exceptions.ValidationError: "validation-error",
    exceptions.NotAuthenticated: "not-authenticated",
    exceptions.AuthenticationFailed: "authentication-failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not-found",
    exceptions.MethodNotAllowed: "method-not-allowed",
    exceptions.NotAcceptable: "not-acceptable",
    exceptions.UnsupportedMediaType: "unsupported-media-type",
    exceptions.Throttled: "throttled",
}


def problem_type(slug: str) -> str:
    return f"{settings.PROBLEM_TYPE_BASE}{slug}"


def problem_body(
    *,
    status: int,
    slug: str,
    detail: str,
    instance: str,
    title: str | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = {key: [str(m) for m in msgs] for key, msgs in errors.items()}
    if extra:
        body.update(extra)
    return body


def problem_response(request: HttpRequest | None, **kwargs: Any) -> JsonResponse:
    """A plain Django response (for views outside DRF: 404/500 handlers, health checks)."""
    kwargs.setdefault("instance", request.path if request is not None else "")
    body = problem_body(**kwargs)
    return JsonResponse(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"field": [...], "lines.0.qty": [...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "non_field_errors" if key == "non_field_errors" and not prefix else key
            out.update(_flatten(value, f"{prefix}.{name}" if prefix else str(name)))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def problem_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: domain errors, DRF errors and Django's 404/403 as problems.

    Anything else is left to Django (logged, answered by ``handler500`` as a problem).
    """
    request = context.get("request")
    instance = request.path if request is not None else ""
    headers: dict[str, str] = {}

    if isinstance(exc, DomainError):
        extra: dict[str, Any] = {}
        if getattr(exc, "order_id", None) is not None:
            extra["order_id"] = exc.order_id  # type: ignore[attr-defined]
        if getattr(exc, "reason", None):
            extra["reason"] = exc.reason  # type: ignore[attr-defined]
        sku: str = getattr(exc, "sku", "")
        if hasattr(exc, "available") and sku:
            extra["sku"] = sku.strip()
            extra["available"] = exc.available
        body = problem_body(
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            instance=instance,
            errors=exc.errors,
            extra=extra,
        )
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if not isinstance(exc, exceptions.APIException):
        return None

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]

    slug = next((s for cls, s in _SLUGS.items() if isinstance(exc, cls)), "error")
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        detail = "Some fields are invalid."
        if list(errors) == ["non_field_errors"]:
            detail = errors["non_field_errors"][0]
    else:
        detail = str(exc.detail)
    body = problem_body(
        status=exc.status_code, slug=slug, detail=detail, instance=instance, errors=errors
    )
    return Response(
        body, status=exc.status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def is_api_path(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    hint = ""
    if not request.path.endswith("/"):
        hint = f" API paths end with a slash: try {request.path}/"
    return problem_response(
        request, status=404, slug="not-found", detail=f"No API endpoint at {request.path}.{hint}"
    )
