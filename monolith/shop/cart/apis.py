"""Cart JSON API; works for guests (session cookie) and users (session or token)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.cart import services
from shop.cart.selectors import CartSummary, cart_summary
from shop.core.errors import ValidationFailed

MAX_QTY = settings.SHOP_MAX_LINE_QUANTITY


def cart_json(summary: CartSummary) -> dict[str, Any]:
    return {
        "id": summary.cart_id,
        "items": [
            {
                "product_id": line.product.pk,
                "sku": line.product.sku,
                "name": line.product.nm,
                "unit_price": f"{line.unit_price:.2f}",
                "currency": line.product.cur,
                "quantity": line.quantity,
                "line_total": f"{line.line_total:.2f}",
                "available": line.available,
            }
            for line in summary.lines
        ],
        "count": summary.count,
        "total": f"{summary.total:.2f}",
        "currency": summary.currency,
    }


def _current(request: Request) -> CartSummary:
    cart = services.cart_find(user=request.user, session=request.session)
    return cart_summary(cart=cart)


class CartApi(APIView):
    def get(self, request: Request) -> Response:
        return Response(cart_json(_current(request)))


class CartItemsApi(APIView):
    class Input(serializers.Serializer[Any]):
        sku = serializers.CharField(required=False, max_length=64)
        product_id = serializers.IntegerField(required=False, min_value=1, max_value=2_147_483_647)
        quantity = serializers.IntegerField(
            required=False, default=1, min_value=1, max_value=MAX_QTY
        )

    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if ("sku" in data) == ("product_id" in data):
            raise ValidationFailed(
                "Give exactly one of sku and product_id.",
                errors={"product_id": ["Give exactly one of sku and product_id."]},
            )
        cart = services.cart_get_or_create(user=request.user, session=request.session)
        services.cart_add_item(
            cart=cart,
            quantity=data["quantity"],
            product_id=data.get("product_id"),
            sku=data.get("sku"),
        )
        return Response(cart_json(cart_summary(cart=cart)), status=status.HTTP_201_CREATED)


class CartItemApi(APIView):
    class Input(serializers.Serializer[Any]):
        quantity = serializers.IntegerField(min_value=1, max_value=MAX_QTY)

    def patch(self, request: Request, product_id: int) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        cart = services.cart_get_or_create(user=request.user, session=request.session)
        services.cart_set_quantity(
            cart=cart, product_id=product_id, quantity=serializer.validated_data["quantity"]
        )
        return Response(cart_json(cart_summary(cart=cart)))

    def delete(self, request: Request, product_id: int) -> Response:
        cart = services.cart_get_or_create(user=request.user, session=request.session)
        services.cart_remove_item(cart=cart, product_id=product_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
