"""``POST /_pact/provider-states``: the Pact verifier's state-change URL.

Mounted only when ``settings.PACT_PROVIDER_STATES`` is on, and even then it answers
only requests from the loopback interface (404 to everyone else, as if it did not exist).
"""

from __future__ import annotations

import ipaddress
import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from shop.pact_states import states


def _is_loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@csrf_exempt
@require_POST
def provider_states(request: HttpRequest) -> HttpResponse:
    if not _is_loopback(request) or "HTTP_X_FORWARDED_FOR" in request.META:
        return HttpResponse(status=404)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "body is not JSON"}, status=400)
    state = body.get("state")
    action = body.get("action", "setup")
    params = body.get("params") or {}
    if action == "teardown":
        return JsonResponse({})
    if state not in states.STATES:
        return JsonResponse(
            {"error": f"unknown provider state {state!r}", "known": sorted(states.STATES)},
            status=400,
        )
    states.apply(state, params)
    return JsonResponse({})
