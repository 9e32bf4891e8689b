"""The monolith's public catalog endpoints, answered from the service through the ACL.

Everything observable mirrors ``shop.catalog.apis`` + DRF: body bytes, pagination links,
query parsing (last value wins, whitespace trimmed), error problems. The service answers
as an anonymous client would see the monolith (public reads: active products only).
"""

from __future__ import annotations

from typing import Annotated, Any

from acl.catalog.domain import CategoryNode, category_tree
from acl.catalog.legacy_json import (
    category_detail_to_legacy_json,
    category_to_legacy_json,
    product_to_legacy_json,
)
from fastapi import APIRouter, Path, Query, Request
from service_kit.legacy_links import (
    absolute_uri,
    positive_int,
    remove_query_param,
    replace_query_param,
)
from service_kit.problems import Problem, not_found
from starlette.responses import Response

from catalog_service.adapters.read_model import CatalogReads, ProductFilter
from catalog_service.entrypoints.http.problems import invalid

router = APIRouter(tags=["legacy (monolith-compatible)"])

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
INT32_MAX = 2**31 - 1
LEGACY_ORDERINGS = ("price", "-price", "name", "-name", "created", "-created")
JSON = "application/json"


def _reads(request: Request) -> CatalogReads:
    reads: CatalogReads = request.app.state.reads
    return reads


def _last(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[-1] if values else None


def _char_fields(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """DRF ``CharField(allow_blank=True)``: trimmed; NUL characters refused."""
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name in names:
        raw = _last(request, name)
        if raw is None:
            continue
        if "\x00" in raw:
            errors[name] = ["Null characters are not allowed."]
            continue
        values[name] = raw.strip()
    if errors:
        raise Problem(400, "validation-error", "Some fields are invalid.", errors=errors)
    return values


async def _category_node(reads: CatalogReads, slug: str) -> tuple[CategoryNode, list[CategoryNode]]:
    nodes = category_tree(await reads.categories())
    for node in nodes:
        if node.category.slug == slug:
            return node, nodes
    raise not_found(f"No category with slug {slug!r}.")


def _descendant_ids(node: CategoryNode) -> list[int]:
    ids = [node.category.legacy_id]
    for child in node.children:
        ids.extend(_descendant_ids(child))
    return ids


@router.get(
    "/api/products/",
    summary="List active products (legacy shape, DRF page-number pagination)",
    responses={200: {"description": "{count, next, previous, results}"}},
)
async def list_products(
    request: Request,
    category: Annotated[str | None, Query(description="slug; includes descendants")] = None,
    search: Annotated[str | None, Query(description="icontains name/sku/description")] = None,
    ordering: Annotated[str | None, Query(description=", ".join(LEGACY_ORDERINGS))] = None,
    page: Annotated[str | None, Query(description="1-based page or 'last'")] = None,
    page_size: Annotated[str | None, Query(description="1..100, default 20")] = None,
) -> Response:
    reads = _reads(request)
    filters = _char_fields(request, ("category", "search", "ordering"))
    category_slug = filters.get("category") or None
    term = filters.get("search") or None
    order = filters.get("ordering") or None
    category_ids = None
    if category_slug:
        try:
            node, _ = await _category_node(reads, category_slug)
        except Problem:
            raise invalid(
                f"Unknown category {category_slug!r}.",
                {"category": [f"No category with slug {category_slug!r}."]},
            ) from None
        category_ids = _descendant_ids(node)
    if order is not None and order not in LEGACY_ORDERINGS:
        raise invalid(
            f"Unknown ordering {order!r}.",
            {"ordering": [f"Use one of: {', '.join(LEGACY_ORDERINGS)}."]},
        )
    size = positive_int(_last(request, "page_size"), PAGE_SIZE, MAX_PAGE_SIZE)
    f = ProductFilter(category_ids=category_ids, search=term)
    count = await reads.count_products(f)
    num_pages = max(1, -(-count // size))
    raw_page: str = _last(request, "page") or "1"
    try:
        number = num_pages if raw_page == "last" else int(raw_page)
    except ValueError:
        raise not_found_page() from None
    if number < 1 or number > num_pages:
        raise not_found_page()
    rows = await reads.list_products(f, order or "id", size, (number - 1) * size)
    url = absolute_uri(request, request.app.state.behind_facade)
    next_link = replace_query_param(url, "page", number + 1) if number < num_pages else None
    if number <= 1:
        previous = None
    elif number - 1 == 1:
        previous = remove_query_param(url, "page")
    else:
        previous = replace_query_param(url, "page", number - 1)
    body: dict[str, Any] = {
        "count": count,
        "next": next_link,
        "previous": previous,
        "results": [product_to_legacy_json(p, ref) for p, ref in rows],
    }
    return Response(request.app.state.render_json(body), media_type=JSON)


def not_found_page() -> Problem:
    return Problem(404, "not-found", "Invalid page.")


@router.get("/api/products/sku/{sku}/", summary="One active product by SKU (case-insensitive)")
async def product_by_sku(request: Request, sku: Annotated[str, Path()]) -> Response:
    wanted = sku.strip().upper()
    found = await _reads(request).product(sku=wanted) if wanted else None
    if found is None:
        raise not_found(f"Product with SKU {wanted!r} not found.")
    return Response(request.app.state.render_json(product_to_legacy_json(*found)), media_type=JSON)


@router.get("/api/products/{product_id}/", summary="One active product by id")
async def product_detail(request: Request, product_id: str) -> Response:
    if not (product_id.isascii() and product_id.isdigit()):  # Django's <int:...> converter
        path = request.url.path
        raise Problem(404, "not-found", f"No API endpoint at {path}.")
    legacy_id = int(product_id)
    found = await _reads(request).product(legacy_id=legacy_id) if legacy_id <= INT32_MAX else None
    if found is None:
        raise not_found(f"Product {legacy_id} not found.")
    return Response(request.app.state.render_json(product_to_legacy_json(*found)), media_type=JSON)


@router.get("/api/categories/", summary="All categories in tree order (plain array)")
async def list_categories(request: Request) -> Response:
    nodes = category_tree(await _reads(request).categories())
    body = [category_to_legacy_json(n.category, n.path) for n in nodes]
    return Response(request.app.state.render_json(body), media_type=JSON)


@router.get("/api/categories/{slug}/", summary="One category with its direct children")
async def category_detail(request: Request, slug: str) -> Response:
    node, _ = await _category_node(_reads(request), slug)
    return Response(
        request.app.state.render_json(category_detail_to_legacy_json(node)), media_type=JSON
    )
