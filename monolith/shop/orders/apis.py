from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.api.pagination import LegacyPagination
from shop.cart.services import cart_get_or_create
from shop.core.errors import CheckoutMoved
from shop.orders import selectors
from shop.orders.models import Order, OrderLine
from shop.orders.ownership import orders_writes_frozen
from shop.orders.services import ShippingAddress, checkout
from shop.orders.session import remember_guest_order
from shop.payments.models import Payment

IDEMPOTENCY_HEADER = "Idempotency-Key"


class OrderLineOutput(serializers.Serializer[OrderLine]):
    product_id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2)
    quantity = serializers.IntegerField(source="qty")
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)


class PaymentOutput(serializers.Serializer[Payment]):
    id = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField(source="cur")
    status = serializers.CharField()
    gateway_ref = serializers.CharField()
    created = serializers.DateTimeField()


class OrderOutput(serializers.Serializer[Order]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    email = serializers.CharField()
    total = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField(source="cur")
    shipping = serializers.SerializerMethodField()
    lines = OrderLineOutput(many=True)
    payments = PaymentOutput(many=True)
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()

    def get_shipping(self, order: Order) -> dict[str, str]:
        return {
            "name": order.ship_name,
            "line1": order.ship_line1,
            "line2": order.ship_line2,
            "city": order.ship_city,
            "zip": order.ship_zip,
            "country": order.ship_country,
        }


def order_json(order: Order) -> dict[str, Any]:
    return OrderOutput(order).data


class CheckoutApi(APIView):
    class Input(serializers.Serializer[Any]):
        email = serializers.EmailField(max_length=254)
        name = serializers.CharField(max_length=200)
        line1 = serializers.CharField(max_length=200)
        line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        city = serializers.CharField(max_length=100)
        zip = serializers.CharField(max_length=20)
        country = serializers.CharField(min_length=2, max_length=2)
        card_number = serializers.CharField(max_length=40)

    def post(self, request: Request) -> Response:
        if orders_writes_frozen():
            raise CheckoutMoved()  # before anything else: not even a guest cart is created
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        cart = cart_get_or_create(user=request.user, session=request.session)
        result = checkout(
            cart=cart,
            email=data["email"],
            address=ShippingAddress(
                name=data["name"],
                line1=data["line1"],
                line2=data["line2"],
                city=data["city"],
                zip=data["zip"],
                country=data["country"],
            ),
            card_number=data["card_number"],
            user=request.user,
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER) or None,
        )
        if not request.user.is_authenticated:
            remember_guest_order(request.session, result.order.pk)
        order = selectors.order_get(
            order_id=result.order.pk, user=request.user, guest_order_ids=[result.order.pk]
        )
        headers = {"Location": f"/api/orders/{order.pk}/"}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(order_json(order), status=status.HTTP_201_CREATED, headers=headers)


class OrderListApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        paginator = LegacyPagination()
        page = paginator.paginate_queryset(
            selectors.order_list(user=request.user), request, view=self
        )
        return paginator.get_paginated_response([order_json(o) for o in page or []])


class OrderDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request, order_id: int) -> Response:
        return Response(order_json(selectors.order_get(order_id=order_id, user=request.user)))
