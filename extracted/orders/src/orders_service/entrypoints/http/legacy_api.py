"""The monolith's order endpoints, answered by the service through the ACL.

Everything observable mirrors ``shop.orders.apis`` + DRF: the checkout input rules and
their messages, the problem documents, the order JSON bytes, page-number pagination.
"""

from __future__ import annotations

import json

from acl.orders.legacy import order_to_legacy_json
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from service_kit.legacy_links import (
    absolute_uri,
    positive_int,
    remove_query_param,
    replace_query_param,
)
from service_kit.problems import Problem, not_found
from starlette.responses import Response

from orders_service.adapters.read_model import OrderReads
from orders_service.domain import OrderSnapshot
from orders_service.entrypoints.http.identity import CurrentPrincipal, OptionalPrincipal
from orders_service.service_layer.saga import CheckoutInput, CheckoutSaga, Customer

router = APIRouter(tags=["legacy (monolith-compatible)"])

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
INT32_MAX = 2**31 - 1
JSON = "application/json"
IDEMPOTENCY_HEADER = "Idempotency-Key"

# DRF CheckoutApi.Input: (field, max_length, min_length, required, allow_blank)
CHECKOUT_FIELDS: tuple[tuple[str, int, int | None, bool, bool], ...] = (
    ("email", 254, None, True, False),
    ("name", 200, None, True, False),
    ("line1", 200, None, True, False),
    ("line2", 200, None, False, True),
    ("city", 100, None, True, False),
    ("zip", 20, None, True, False),
    ("country", 2, 2, True, False),
    ("card_number", 40, None, True, False),
)

CHECKOUT_EXAMPLE = {
    "email": "ada@example.com", "name": "Ada Lovelace", "line1": "1 Analytical Way",
    "line2": "", "city": "London", "zip": "N1 7AA", "country": "GB",
    "card_number": "4242 4242 4242 4242",
}  # fmt: skip


def _last(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[-1] if values else None


def _reads(request: Request) -> OrderReads:
    reads: OrderReads = request.app.state.reads
    return reads


def _saga(request: Request) -> CheckoutSaga:
    saga: CheckoutSaga = request.app.state.saga
    return saga


def order_response(request: Request, order: OrderSnapshot, status: int = 200,
                   headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    body = request.app.state.render_json(order_to_legacy_json(order))
    return Response(body, status_code=status, media_type=JSON, headers=headers)


# --- DRF request parsing and the Input serializer -------------------------------------------


async def _json_body(request: Request) -> object:
    """DRF's ``JSONParser`` on ``request.data``: empty body -> {}; other types -> 415."""
    raw = await request.body()
    content_type = request.headers.get("content-type")
    if not raw:
        return {}
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if content_type is None:
        return {}
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(415, "unsupported-media-type",
                      f'Unsupported media type "{content_type}" in request.')  # fmt: skip
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "malformed-request", f"JSON parse error - {exc}") from None


def _char_field(value: object, max_length: int, min_length: int | None,
                allow_blank: bool) -> tuple[str | None, list[str]]:  # fmt: skip
    """DRF ``CharField`` (trim_whitespace=True): the value, or its error messages."""
    if value is None:
        return None, ["This field may not be null."]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, ["Not a valid string."]
    text = str(value).strip()
    if text == "":
        return ("", []) if allow_blank else (None, ["This field may not be blank."])
    errors = []
    if len(text) > max_length:
        errors.append(f"Ensure this field has no more than {max_length} characters.")
    if min_length is not None and len(text) < min_length:
        errors.append(f"Ensure this field has at least {min_length} characters.")
    if "\x00" in text:
        errors.append("Null characters are not allowed.")
    return text, errors


def parse_checkout(data: object) -> CheckoutInput:
    """``CheckoutApi.Input(data=request.data).is_valid(raise_exception=True)``."""
    from orders_service.service_layer.saga import valid_email

    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "NoneType"
        kind = {"dict": "dict", "list": "list", "str": "str", "int": "int", "float": "float",
                "bool": "bool"}.get(kind, kind)  # fmt: skip
        message = f"Invalid data. Expected a dictionary, but got {kind}."
        raise Problem(400, "validation-error", message, errors={"non_field_errors": [message]})
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, max_length, min_length, required, allow_blank in CHECKOUT_FIELDS:
        if name not in data:
            if required:
                errors[name] = ["This field is required."]
            else:
                values[name] = ""
            continue
        value, messages = _char_field(data[name], max_length, min_length, allow_blank)
        if name == "email" and value and not valid_email(value):
            messages.append("Enter a valid email address.")
        if messages:
            errors[name] = messages
        elif value is not None:
            values[name] = value
    if errors:
        raise Problem(400, "validation-error", "Some fields are invalid.", errors=errors)
    return CheckoutInput(**values)


# --- endpoints -----------------------------------------------------------------------------


CHECKOUT_BODY = {
    "required": True,
    "content": {JSON: {"schema": {
        "type": "object",
        "required": ["email", "name", "line1", "city", "zip", "country", "card_number"],
        "properties": {
            name: {"type": "string", "maxLength": max_length}
            for name, max_length, _min, _req, _blank in CHECKOUT_FIELDS
        },
    }, "example": CHECKOUT_EXAMPLE}},
}  # fmt: skip


@router.post(
    "/api/checkout/", status_code=201, openapi_extra={"requestBody": CHECKOUT_BODY},
    summary="Turn the cart into an order (the checkout saga); Idempotency-Key replays",
    responses={201: {"description": "The order (legacy shape); Location: /api/orders/<id>/"},
               402: {"description": "Payment declined (problem details with order_id)"},
               409: {"description": "Empty cart, stock, unavailable product, key reused"},
               503: {"description": "A participant did not answer before the deadline"}},
)  # fmt: skip
async def checkout(request: Request, principal: OptionalPrincipal) -> Response:
    data = parse_checkout(await _json_body(request))
    forwarded = {k: v for k, v in request.headers.items() if k in ("cookie", "authorization")}
    key = request.headers.get(IDEMPOTENCY_HEADER) or None
    customer = Customer(user_id=None if principal is None else principal.user_id)
    result = await run_in_threadpool(
        _saga(request).checkout, data, customer, idempotency_key=key, forwarded=forwarded
    )
    headers = {"Location": f"/api/orders/{result.order.order_id}/"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return order_response(request, result.order, 201, headers)


@router.get("/api/orders/", summary="Own orders, newest first (staff: every order)")
async def list_orders(
    request: Request,
    principal: CurrentPrincipal,
    page: str | None = None,
    page_size: str | None = None,
) -> Response:
    reads = _reads(request)
    user_id = None if principal.is_staff else principal.user_id
    size = positive_int(_last(request, "page_size"), PAGE_SIZE, MAX_PAGE_SIZE)
    count = await run_in_threadpool(reads.count, user_id=user_id)
    num_pages = max(1, -(-count // size))
    raw_page: str = _last(request, "page") or "1"
    try:
        number = num_pages if raw_page == "last" else int(raw_page)
    except ValueError:
        raise Problem(404, "not-found", "Invalid page.") from None
    if number < 1 or number > num_pages:
        raise Problem(404, "not-found", "Invalid page.")
    orders = await run_in_threadpool(reads.page, user_id=user_id, limit=size,
                                     offset=(number - 1) * size)  # fmt: skip
    url = absolute_uri(request, request.app.state.behind_facade)
    next_link = replace_query_param(url, "page", number + 1) if number < num_pages else None
    if number <= 1:
        previous = None
    elif number - 1 == 1:
        previous = remove_query_param(url, "page")
    else:
        previous = replace_query_param(url, "page", number - 1)
    body = {"count": count, "next": next_link, "previous": previous,
            "results": [order_to_legacy_json(o) for o in orders]}  # fmt: skip
    return Response(request.app.state.render_json(body), media_type=JSON)


@router.get("/api/orders/{order_id}/", summary="One order: own (staff: any); others' are 404")
async def order_detail(request: Request, principal: CurrentPrincipal, order_id: str) -> Response:
    if not (order_id.isascii() and order_id.isdigit()):  # Django's <int:...> converter
        raise Problem(404, "not-found", f"No API endpoint at {request.url.path}.")
    number = int(order_id)
    order = None
    if number <= 2**63 - 1:
        order = await run_in_threadpool(_reads(request).get, number)
    if order is None or not (principal.is_staff or order.user_id == principal.user_id):
        raise not_found(f"Order {order_id} not found.")
    return order_response(request, order)
