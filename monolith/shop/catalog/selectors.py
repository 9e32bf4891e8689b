"""Reads of catalog data. Public reads only ever see status 'A' products."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.db.models.functions import Trim, Upper

from shop.catalog.models import Category, Product, ProductStatus
from shop.catalog.services import normalize_sku
from shop.core.errors import NotFound, ValidationFailed

# Public ordering names -> legacy columns (id breaks ties so pages are stable).
ORDERINGS: dict[str, tuple[str, ...]] = {
    "price": ("prc", "id"),
    "-price": ("-prc", "-id"),
    "name": ("nm", "id"),
    "-name": ("-nm", "-id"),
    "created": ("created", "id"),
    "-created": ("-created", "-id"),
}


@dataclass(frozen=True)
class CategoryNode:
    id: int
    name: str
    slug: str
    parent_id: int | None
    path: str
    depth: int
    children: tuple[CategoryNode, ...] = ()


def category_nodes() -> list[CategoryNode]:
    """All categories, depth-first in tree order, each with its "A / B / C" path.

    The tree is small (tens of rows), so it is built in Python from one query.
    """
    rows = list(Category.objects.order_by("sort_order", "name", "id"))
    by_parent: dict[int | None, list[Category]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(row)

    def build(parent_id: int | None, prefix: str, depth: int) -> list[CategoryNode]:
        nodes = []
        for row in by_parent.get(parent_id, []):
            path = f"{prefix} / {row.name}" if prefix else row.name
            children = tuple(build(row.pk, path, depth + 1)) if depth < 50 else ()
            nodes.append(
                CategoryNode(row.pk, row.name, row.slug, row.parent_id, path, depth, children)
            )
        return nodes

    flat: list[CategoryNode] = []

    def walk(nodes: list[CategoryNode] | tuple[CategoryNode, ...]) -> None:
        for node in nodes:
            flat.append(node)
            walk(node.children)

    walk(build(None, "", 0))
    return flat


def category_roots() -> list[CategoryNode]:
    return [node for node in category_nodes() if node.parent_id is None]


def category_get(*, slug: str) -> CategoryNode:
    for node in category_nodes():
        if node.slug == slug:
            return node
    raise NotFound(f"No category with slug {slug!r}.")


def category_descendant_ids(*, slug: str) -> list[int]:
    """The category with ``slug`` and every category below it."""
    root = category_get(slug=slug)
    ids: list[int] = []

    def walk(node: CategoryNode) -> None:
        ids.append(node.id)
        for child in node.children:
            walk(child)

    walk(root)
    return ids


def _visible(include_hidden: bool) -> QuerySet[Product]:
    products = Product.objects.select_related("category")
    if not include_hidden:
        products = products.filter(st=ProductStatus.ACTIVE)
    return products


def product_list(
    *,
    category_slug: str | None = None,
    search: str | None = None,
    ordering: str | None = None,
    include_hidden: bool = False,
) -> QuerySet[Product]:
    products = _visible(include_hidden)
    if category_slug:
        try:
            ids = category_descendant_ids(slug=category_slug)
        except NotFound as exc:
            raise ValidationFailed(
                f"Unknown category {category_slug!r}.",
                errors={"category": [f"No category with slug {category_slug!r}."]},
            ) from exc
        products = products.filter(category_id__in=ids)
    if search and search.strip():
        term = search.strip()
        products = products.filter(
            Q(nm__icontains=term) | Q(sku__icontains=term) | Q(descr__icontains=term)
        )
    if ordering:
        if ordering not in ORDERINGS:
            raise ValidationFailed(
                f"Unknown ordering {ordering!r}.",
                errors={"ordering": [f"Use one of: {', '.join(ORDERINGS)}."]},
            )
        products = products.order_by(*ORDERINGS[ordering])
    else:
        products = products.order_by("id")
    return products


def product_get(*, product_id: int, include_hidden: bool = False) -> Product:
    product = _visible(include_hidden).filter(pk=product_id).first()
    if product is None:
        raise NotFound(f"Product {product_id} not found.")
    return product


def product_get_by_sku(*, sku: str, include_hidden: bool = False) -> Product:
    """Case-insensitive, whitespace-tolerant: legacy rows may be stored as ' sku-1 '."""
    wanted = normalize_sku(sku)
    product = (
        _visible(include_hidden)
        .annotate(norm_sku=Upper(Trim("sku")))
        .filter(norm_sku=wanted)
        .first()
    )
    if product is None:
        raise NotFound(f"Product with SKU {wanted!r} not found.")
    return product
