"""The storefront's checkout page once the orders service owns checkout (step 5).

The page stays here (the same form, the same cart summary), but the order is placed by the
public API as every other client places it: ``POST {FACADE_URL}/api/checkout/`` through
the facade, which routes it to the orders service's checkout saga. The request carries
what the browser's own call would: its ``Cookie`` header (session and CSRF cookie), the
CSRF token the form posted (``X-CSRFToken``), and an ``Idempotency-Key`` from the form's
hidden ``idempotency_key`` field, so a double submit replays the first order instead of
placing a second one. The trace continues (``traceparent``).

The standard library's HTTP client, no proxy from the environment: the facade is a peer
on a known address, and one call per checkout needs no connection pool.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from shop_telemetry import current_traceparent

log = logging.getLogger(__name__)

CHECKOUT_PATH = "/api/checkout/"
FIELDS = ("email", "name", "line1", "line2", "city", "zip", "country", "card_number")
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class FacadeAnswer:
    """The API's answer; ``status`` None when there was none (network failure, timeout)."""

    status: int | None
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        detail = self.body.get("detail")
        return detail if isinstance(detail, str) and detail else ""

    @property
    def errors(self) -> dict[str, list[str]]:
        raw = self.body.get("errors")
        if not isinstance(raw, dict):
            return {}
        return {
            str(name): [str(m) for m in msgs] if isinstance(msgs, list) else [str(msgs)]
            for name, msgs in raw.items()
        }


def idempotency_key(request: HttpRequest, data: Mapping[str, Any]) -> str:
    """The form's key; without one, a key derived from this submission (same form, same key)."""
    key = str(data.get("idempotency_key") or "").strip()
    if key:
        return key
    basis = json.dumps(
        [request.POST.get("csrfmiddlewaretoken", ""), *(str(data.get(f, "")) for f in FIELDS)]
    )
    return "storefront-" + hashlib.sha256(basis.encode()).hexdigest()[:40]


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def checkout_through_facade(
    request: HttpRequest, data: Mapping[str, Any], *, key: str
) -> FacadeAnswer:
    """Place the order through the public API; never raises for a network problem."""
    payload = {name: str(data.get(name) or "") for name in FIELDS}
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Idempotency-Key": key,
    }
    if request.META.get("HTTP_COOKIE"):
        headers["Cookie"] = request.META["HTTP_COOKIE"]
    token = request.POST.get("csrfmiddlewaretoken")
    if token:
        headers["X-CSRFToken"] = token
    if request.headers.get("Authorization"):
        headers["Authorization"] = request.headers["Authorization"]
    traceparent = current_traceparent()
    if traceparent:
        headers["traceparent"] = traceparent
    outgoing = urllib.request.Request(  # noqa: S310 (an http(s) URL from the settings)
        settings.FACADE_URL + CHECKOUT_PATH,
        data=json.dumps(payload).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with _opener.open(outgoing, timeout=settings.FACADE_CHECKOUT_TIMEOUT) as response:
            return FacadeAnswer(response.status, _json(response.read()))
    except urllib.error.HTTPError as exc:
        try:
            with exc:
                return FacadeAnswer(exc.code, _json(exc.read()))
        except (OSError, http.client.HTTPException):  # the body broke off: the status stands
            return FacadeAnswer(exc.code)
    except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts included
        log.warning("checkout through the facade failed: %s", exc)
        return FacadeAnswer(None)
