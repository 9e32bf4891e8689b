"""Catalog JSON API: thin views over catalog selectors and services.

The product representation is the legacy wire shape documented in monolith/README.md.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.api.pagination import LegacyPagination
from shop.api.permissions import StaffWritesOnly, is_staff
from shop.catalog import selectors, services
from shop.catalog.attrs import parse_attrs
from shop.catalog.models import Category, Product, ProductStatus
from shop.core.errors import ValidationFailed


class CategoryRefField(serializers.Field[Category | None, Any, dict[str, Any] | None, Any]):
    """Input: a category id, ``{"id": 3, ...}`` (the output shape) or null."""

    default_error_messages = {
        "invalid": "Give a category id or null.",
        "missing": "No category {id}.",
    }

    def to_internal_value(self, data: Any) -> Category | None:
        if data is None:
            return None
        if isinstance(data, dict):
            data = data.get("id")
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        category = Category.objects.filter(pk=data).first()
        if category is None:
            self.fail("missing", id=data)
        return category

    def to_representation(self, value: Category | None) -> dict[str, Any] | None:
        if value is None:
            return None
        return {"id": value.pk, "name": value.name, "slug": value.slug}


class ProductOutput(serializers.Serializer[Product]):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField(source="nm")
    description = serializers.CharField(source="descr")
    price = serializers.DecimalField(source="prc", max_digits=10, decimal_places=2)
    currency = serializers.CharField(source="cur")
    status = serializers.CharField(source="st")
    stock = serializers.IntegerField(source="qty")
    in_stock = serializers.BooleanField()
    category = CategoryRefField(allow_null=True)
    attributes = serializers.SerializerMethodField()
    weight_grams = serializers.IntegerField(source="wt", allow_null=True)
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()

    def get_attributes(self, product: Product) -> dict[str, str]:
        return parse_attrs(product.attrs)


class ProductInput(serializers.Serializer[Any]):
    """Type checks only; the business rules live in ``catalog.services``."""

    sku = serializers.CharField(max_length=64, allow_blank=True, trim_whitespace=False)
    name = serializers.CharField(max_length=400, allow_blank=True)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    price = serializers.DecimalField(max_digits=20, decimal_places=6)
    currency = serializers.CharField(max_length=8, required=False, default="EUR")
    status = serializers.ChoiceField(choices=ProductStatus.values, required=False, default="A")
    category = CategoryRefField(required=False, allow_null=True, default=None)
    attributes = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )
    weight_grams = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=2_147_483_647
    )
    stock = serializers.IntegerField(required=False, min_value=0, max_value=2_147_483_647)


def _actor(request: Request) -> str:
    return f"user:{request.user.get_username()}" if request.user.is_authenticated else "api"


def _render(product: Product) -> dict[str, Any]:
    return ProductOutput(product).data


def _valid(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ProductListApi(APIView):
    permission_classes = [StaffWritesOnly]

    class FilterSerializer(serializers.Serializer[Any]):
        category = serializers.CharField(required=False, allow_blank=True)
        search = serializers.CharField(required=False, allow_blank=True)
        ordering = serializers.CharField(required=False, allow_blank=True)

    def get(self, request: Request) -> Response:
        filters = _valid(self.FilterSerializer(data=request.query_params))
        products = selectors.product_list(
            category_slug=filters.get("category") or None,
            search=filters.get("search") or None,
            ordering=filters.get("ordering") or None,
        )
        paginator = LegacyPagination()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response([_render(p) for p in page or []])

    def post(self, request: Request) -> Response:
        data = _valid(ProductInput(data=request.data))
        product = services.product_create(
            sku=data["sku"],
            name=data["name"],
            description=data["description"],
            price=data["price"],
            currency=data["currency"],
            status=data["status"],
            category=data["category"],
            attributes=data["attributes"],
            weight_grams=data["weight_grams"],
            stock=data.get("stock", 0),
            actor=_actor(request),
        )
        product = selectors.product_get(product_id=product.pk, include_hidden=True)
        return Response(
            _render(product),
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/products/{product.pk}/"},
        )


class ProductDetailApi(APIView):
    permission_classes = [StaffWritesOnly]

    def get(self, request: Request, product_id: int) -> Response:
        product = selectors.product_get(product_id=product_id, include_hidden=is_staff(request))
        return Response(_render(product))

    def put(self, request: Request, product_id: int) -> Response:
        return self._update(request, product_id, partial=False)

    def patch(self, request: Request, product_id: int) -> Response:
        return self._update(request, product_id, partial=True)

    def _update(self, request: Request, product_id: int, *, partial: bool) -> Response:
        product = selectors.product_get(product_id=product_id, include_hidden=True)
        serializer = ProductInput(data=request.data, partial=partial)
        data = _valid(serializer)
        if partial:
            # DRF fills defaults even for partial input; keep only what the client sent.
            data = {k: v for k, v in data.items() if k in serializer.initial_data}
            if not data:
                raise ValidationFailed(
                    "Nothing to change.", errors={"non_field_errors": ["Send at least one field."]}
                )
        with transaction.atomic():
            product = services.product_update(product=product, actor=_actor(request), **data)
        product = selectors.product_get(product_id=product.pk, include_hidden=True)
        return Response(_render(product))

    def delete(self, request: Request, product_id: int) -> Response:
        product = selectors.product_get(product_id=product_id, include_hidden=True)
        services.product_delete(product=product)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProductBySkuApi(APIView):
    def get(self, request: Request, sku: str) -> Response:
        product = selectors.product_get_by_sku(sku=sku, include_hidden=is_staff(request))
        return Response(_render(product))


class CategoryOutput(serializers.Serializer[Any]):  # one CategoryNode, or many=True lists
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    # The stubs declare ``Field.parent`` (the bound parent serializer); DRF's metaclass moves
    # declared fields into ``_declared_fields``, so this "parent" never shadows it at runtime.
    parent = serializers.IntegerField(source="parent_id", allow_null=True)  # type: ignore[assignment]
    path = serializers.CharField()


class CategoryListApi(APIView):
    def get(self, request: Request) -> Response:
        return Response(CategoryOutput(selectors.category_nodes(), many=True).data)


class CategoryDetailApi(APIView):
    def get(self, request: Request, slug: str) -> Response:
        node = selectors.category_get(slug=slug)
        body = dict(CategoryOutput(node).data)
        body["children"] = CategoryOutput(node.children, many=True).data
        return Response(body)
