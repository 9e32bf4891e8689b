"""The saga participant endpoints (JSON in and out; schemas pinned with the orders service).

* ``GET /_internal/checkout/cart``: the caller forwards the client's ``Cookie`` and
  ``Authorization``; the cart of that user or guest session (token first, then session,
  as the API authenticates), never creating one. An invalid token is a 401 problem.
* ``POST /_internal/inventory/reservations`` ``{command_id, order_id, lines}`` and
  ``POST /_internal/inventory/releases`` ``{command_id, reservation_id, order_id}``:
  ``shop.inventory.commands``.
* ``POST /_internal/checkout/cart/clear`` ``{command_id, cart_id}``: ``shop.cart.commands``.

Every command answers 200 with its outcome (``replayed`` when it was recorded before);
a malformed request is a 400 problem with field errors. Who may call: trusted peers'
own requests (``shop.customers.identity.trusted_internal_caller``), anyone else gets a
404 problem, as if the endpoints did not exist. No CSRF check: no browser credential is
used by the commands, and only JSON bodies are accepted (a cross-site form cannot send one).
"""

from __future__ import annotations

from typing import Any

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from rest_framework import exceptions, serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.cart.commands import cart_clear_command
from shop.cart.selectors import cart_summary
from shop.cart.services import cart_find
from shop.customers.identity import trusted_internal_caller
from shop.inventory.commands import (
    MAX_QUANTITY,
    stock_release_command,
    stock_reservation_command,
)

MAX_ID = 2**63 - 1
MAX_LINES = 500


class UuidString(serializers.UUIDField):
    """A UUID in its text form only (DRF's field would also take an integer)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


@method_decorator(never_cache, name="dispatch")
class ParticipantApi(APIView):
    """Trusted callers only; the commands carry no client credentials."""

    authentication_classes: list[Any] = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not trusted_internal_caller(request._request):
            raise exceptions.NotFound(f"Not found: {request.path}")
        super().initial(request, *args, **kwargs)


class CheckoutCartApi(ParticipantApi):
    # The client's credentials, forwarded by the caller, resolved as the API does.
    authentication_classes = [TokenAuthentication, SessionAuthentication]

    def get(self, request: Request) -> Response:
        user = request.user
        summary = cart_summary(cart=cart_find(user=user, session=request.session))
        return Response(
            {
                "cart_id": summary.cart_id,
                "user": (
                    {"id": user.pk, "email": user.email, "is_staff": bool(user.is_staff)}
                    if user.is_authenticated
                    else None
                ),
                "items": [
                    {
                        "product_id": line.product.pk,
                        "sku": line.product.sku.strip(),
                        "name": line.product.nm,
                        "unit_price": f"{line.unit_price:.2f}",
                        "currency": line.product.cur.strip().upper(),
                        "quantity": line.quantity,
                        "available": line.product.is_active,
                    }
                    for line in summary.lines
                ],
            }
        )


class _Line(serializers.Serializer[Any]):
    product_id = serializers.IntegerField(min_value=1, max_value=2_147_483_647)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class ReservationApi(ParticipantApi):
    class Input(serializers.Serializer[Any]):
        command_id = UuidString()
        order_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        lines = serializers.ListField(child=_Line(), allow_empty=False, max_length=MAX_LINES)

    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = stock_reservation_command(
            command_id=data["command_id"],
            order_id=data["order_id"],
            lines=[(line["product_id"], line["quantity"]) for line in data["lines"]],
        )
        return Response(
            {
                "command_id": str(result.command_id),
                "outcome": result.outcome.value,
                "replayed": result.replayed,
                "detail": result.detail,
                "sku": result.sku,
                "available": result.available,
            }
        )


class ReleaseApi(ParticipantApi):
    class Input(serializers.Serializer[Any]):
        command_id = UuidString()
        reservation_id = UuidString()
        order_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = stock_release_command(
            command_id=data["command_id"],
            reservation_id=data["reservation_id"],
            order_id=data["order_id"],
        )
        return Response(
            {
                "command_id": str(result.command_id),
                "outcome": result.outcome.value,
                "replayed": result.replayed,
            }
        )


class CartClearApi(ParticipantApi):
    class Input(serializers.Serializer[Any]):
        command_id = UuidString()
        cart_id = serializers.IntegerField(min_value=1, max_value=2_147_483_647)

    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = cart_clear_command(command_id=data["command_id"], cart_id=data["cart_id"])
        return Response(
            {
                "command_id": str(result.command_id),
                "outcome": result.outcome.value,
                "replayed": result.replayed,
            }
        )
