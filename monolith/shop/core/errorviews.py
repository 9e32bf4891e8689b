"""``handler404``/``handler500``: problem+json under /api/, HTML pages elsewhere."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from shop.api.problems import is_api_path, problem_response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request):
        return problem_response(request, status=404, slug="not-found", detail="Not found.")
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    if is_api_path(request):
        return problem_response(
            request,
            status=500,
            slug="server-error",
            detail="Something went wrong on our side; it has been logged.",
        )
    # No template context processors here: they may be what failed.
    return HttpResponse(
        "<!doctype html><title>Server error</title><h1>Something went wrong</h1>"
        "<p>It has been logged. Please try again.</p>",
        status=500,
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request):
        return problem_response(request, status=400, slug="bad-request", detail="Bad request.")
    return HttpResponse("<!doctype html><title>Bad request</title><h1>Bad request</h1>", status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request):
        return problem_response(request, status=403, slug="forbidden", detail="Forbidden.")
    return render(request, "403.html", status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_path(request):
        return problem_response(
            request, status=403, slug="csrf-failed", detail=f"CSRF check failed: {reason}"
        )
    return render(request, "403_csrf.html", {"reason": reason}, status=403)
