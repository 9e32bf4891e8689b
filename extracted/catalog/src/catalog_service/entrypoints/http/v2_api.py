"""The service's own API: money objects, enum status, aware timestamps, keyset pages."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from service_kit.problems import Problem, not_found
from starlette.responses import Response

from catalog_service.adapters.read_model import CatalogReads, ProductFilter
from catalog_service.domain import CategoryRef, Product, ProductStatus, category_tree

router = APIRouter(prefix="/v2", tags=["v2"])
JSON = "application/json"


class MoneyOut(BaseModel):
    amount_minor: int
    currency: str = Field(description="ISO 4217")
    amount: str = Field(description="decimal string, e.g. '12.50'")


class AttributeOut(BaseModel):
    key: str
    value: str


class CategoryRefOut(BaseModel):
    id: int
    slug: str
    name: str


class ProductOut(BaseModel):
    id: int = Field(description="the product's id (equal to the legacy id until step 4)")
    sku: str
    name: str
    description: str | None
    price: MoneyOut
    status: ProductStatus
    stock: int
    in_stock: bool
    category: CategoryRefOut | None
    attributes: list[AttributeOut]
    weight_grams: int | None
    created_at: datetime
    updated_at: datetime
    version: int


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class CategoryOut(BaseModel):
    id: int
    slug: str
    name: str
    parent_id: int | None
    path: str
    depth: int
    sort_order: int


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def product_out(product: Product, ref: CategoryRef | None) -> dict[str, Any]:
    return {
        "id": product.legacy_id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price": {
            "amount_minor": product.price.amount_minor,
            "currency": product.price.currency,
            "amount": f"{product.price.to_decimal():f}",
        },
        "status": str(product.status),
        "stock": product.stock,
        "in_stock": product.in_stock,
        "category": None if ref is None else {"id": ref.legacy_id, "slug": ref.slug,
                                              "name": ref.name},
        "attributes": [{"key": a.key, "value": a.value} for a in product.attributes],
        "weight_grams": product.weight_grams,
        "created_at": _iso(product.created_at),
        "updated_at": _iso(product.updated_at),
        "version": product.version,
    }  # fmt: skip


def encode_cursor(legacy_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{legacy_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "id" or not value.isdigit():
            raise ValueError
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            400,
            "validation-error",
            "Some fields are invalid.",
            errors={"cursor": ["Not a cursor this API issued."]},
        ) from None


def _reads(request: Request) -> CatalogReads:
    reads: CatalogReads = request.app.state.reads
    return reads


@router.get("/products", response_model=ProductPage, summary="Active products by id, keyset pages")
async def list_products(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=100, description="slug + descendants")] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    reads = _reads(request)
    category_ids = None
    if category:
        nodes = category_tree(await reads.categories())
        match = next((n for n in nodes if n.category.slug == category), None)
        if match is None:
            raise Problem(
                400,
                "validation-error",
                "Some fields are invalid.",
                errors={"category": [f"No category with slug {category!r}."]},
            )
        stack, category_ids = [match], []
        while stack:
            node = stack.pop()
            category_ids.append(node.category.legacy_id)
            stack.extend(node.children)
    after = decode_cursor(cursor) if cursor else None
    if search is not None and "\x00" in search:
        raise Problem(
            400,
            "validation-error",
            "Some fields are invalid.",
            errors={"search": ["Null characters are not allowed."]},
        )
    f = ProductFilter(category_ids=category_ids, search=(search or "").strip() or None,
                      after_legacy_id=after)  # fmt: skip
    rows = await reads.list_products(f, "id", limit + 1)
    items = [product_out(p, ref) for p, ref in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][0].legacy_id) if len(rows) > limit else None
    body = {"items": items, "next_cursor": next_cursor}
    return Response(request.app.state.render_json(body), media_type=JSON)


@router.get("/products/{product_id}", response_model=ProductOut, summary="One active product")
async def product_detail(request: Request, product_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
                         ) -> Response:  # fmt: skip
    found = await _reads(request).product(legacy_id=product_id)
    if found is None:
        raise not_found(f"Product {product_id} not found.")
    return Response(request.app.state.render_json(product_out(*found)), media_type=JSON)


@router.get("/categories", response_model=list[CategoryOut], summary="The category tree, flat")
async def list_categories(request: Request) -> Response:
    nodes = category_tree(await _reads(request).categories())
    body = [
        {"id": n.category.legacy_id, "slug": n.category.slug, "name": n.category.name,
         "parent_id": n.category.parent_legacy_id, "path": n.path, "depth": n.depth,
         "sort_order": n.category.sort_order}
        for n in nodes
    ]  # fmt: skip
    return Response(request.app.state.render_json(body), media_type=JSON)
