"""The catalog domain <-> the monolith's public JSON (``/api/products``, ``/api/categories``).

The dicts built here have the legacy key order, and :func:`render` serialises them the way
DRF's ``JSONRenderer`` does (compact separators, UTF-8 instead of ``\\u`` escapes, but
U+2028/U+2029 escaped), so a client cannot tell which side answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from acl.catalog import quirks
from acl.catalog.domain import Attribute, Category, CategoryNode, CategoryRef, Product
from acl.catalog.legacy import LegacyCategoryJSON, LegacyCategoryRefJSON, LegacyProductJSON
from acl.errors import FieldProblem, untranslatable

PRODUCT_JSON = "legacy product JSON"
CATEGORY_JSON = "legacy category JSON"
PRODUCT_JSON_KEYS = tuple(LegacyProductJSON.__annotations__)
CATEGORY_JSON_KEYS = tuple(LegacyCategoryJSON.__annotations__)


def format_price(amount: Decimal) -> str:
    """DRF ``DecimalField(decimal_places=2)``: fixed point, two decimals."""
    return f"{amount.quantize(Decimal('0.01')):f}"


def format_local(value: datetime) -> str:
    """The monolith's ``DATETIME_FORMAT`` (``%Y-%m-%dT%H:%M:%S``): seconds, truncated.

    Quirk 18: microseconds are stored but never emitted. (Found by shadow comparison: a
    product the monolith had just updated showed ``...:15.238499`` on the service.)"""
    return value.replace(microsecond=0).isoformat()


def category_ref_json(ref: CategoryRef | None) -> LegacyCategoryRefJSON | None:
    if ref is None:
        return None
    return {"id": ref.legacy_id, "name": ref.name, "slug": ref.slug}


def product_to_legacy_json(product: Product, category: CategoryRef | None) -> LegacyProductJSON:
    """The monolith's product JSON for ``product``; ``category`` is its (synced) category."""
    try:
        price = quirks.money_to_legacy(product.price)
    except FieldProblem as problem:
        raise untranslatable("catalog product", product.legacy_id, problem) from None
    return {
        "id": product.legacy_id,
        "sku": product.sku_as_legacy,
        "name": product.name,
        "description": product.description or "",
        "price": format_price(price),
        "currency": product.currency_as_legacy,
        "status": quirks.STATUS_TO_LEGACY[product.status],
        "stock": product.stock,
        "in_stock": product.in_stock,
        "category": category_ref_json(category),
        "attributes": product.attributes_dict,
        "weight_grams": product.weight_grams,
        "created": format_local(quirks.utc_to_local(product.created_at, "created_at")),
        "updated": format_local(quirks.utc_to_local(product.updated_at, "updated_at")),
    }


def product_from_legacy_json(
    doc: Mapping[str, Any], *, version: int = 0
) -> tuple[Product, CategoryRef | None]:
    """Parse the monolith's product JSON. ``in_stock`` must agree with ``stock``."""
    record_id = doc.get("id")
    try:
        _exact_keys(doc, PRODUCT_JSON_KEYS)
        legacy_id = quirks.required_int(doc["id"], "id", minimum=1)
        raw_sku = quirks.required_text(doc["sku"], "sku")
        sku = quirks.canonical_sku(raw_sku)
        raw_currency = quirks.required_text(doc["currency"], "currency")
        currency = quirks.canonical_currency(raw_currency, "currency")
        price_text = quirks.required_text(doc["price"], "price")
        if price_text != price_text.strip() or "e" in price_text.lower():
            raise FieldProblem("price", "not a plain decimal string", price_text)
        price = quirks.money_from_legacy(price_text, currency, "price")
        if format_price(price.to_decimal()) != price_text:
            raise FieldProblem("price", "not in the legacy two-decimal spelling", price_text)
        stock = quirks.required_int(doc["stock"], "stock")
        if doc["in_stock"] is not (stock > 0):
            raise FieldProblem("in_stock", "disagrees with stock", doc["in_stock"])
        category = _category_ref(doc["category"])
        product = Product(
            legacy_id=legacy_id,
            sku=sku,
            name=quirks.required_text(doc["name"], "name"),
            description=quirks.description_from_legacy(doc["description"], "description"),
            category_legacy_id=None if category is None else category.legacy_id,
            price=price,
            status=quirks.status_from_legacy(doc["status"], "status"),
            stock=stock,
            attributes=_attributes(doc["attributes"]),
            weight_grams=quirks.optional_int(doc["weight_grams"], "weight_grams", minimum=0),
            created_at=quirks.local_to_utc(
                quirks.parse_local_iso(doc["created"], "created"), "created"
            ),
            updated_at=quirks.local_to_utc(
                quirks.parse_local_iso(doc["updated"], "updated"), "updated"
            ),
            version=version,
            legacy_sku=quirks.legacy_spelling(raw_sku, sku),
            legacy_currency=quirks.legacy_spelling(raw_currency, currency),
        )
    except FieldProblem as problem:
        raise untranslatable(PRODUCT_JSON, record_id, problem) from None
    return product, category


def _exact_keys(doc: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in doc]
    if missing:
        raise FieldProblem(missing[0], "missing")
    extra = [k for k in doc if k not in keys]
    if extra:
        raise FieldProblem(extra[0], "unknown field")


def _category_ref(raw: object) -> CategoryRef | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"id", "name", "slug"}:
        raise FieldProblem("category", "expected null or {id, name, slug}", raw)
    return CategoryRef(
        legacy_id=quirks.required_int(raw["id"], "category.id", minimum=1),
        name=quirks.required_text(raw["name"], "category.name"),
        slug=quirks.required_text(raw["slug"], "category.slug"),
    )


def _attributes(raw: object) -> tuple[Attribute, ...]:
    if not isinstance(raw, Mapping):
        raise FieldProblem("attributes", "expected an object", raw)
    attributes = []
    for key, value in raw.items():
        if not isinstance(value, str):
            raise FieldProblem("attributes", f"value of {key!r} is not text", value)
        quirks.check_attribute(key, value, "attributes")
        attributes.append(Attribute(key, value))
    return tuple(attributes)


def category_to_legacy_json(category: Category, path: str) -> LegacyCategoryJSON:
    return {
        "id": category.legacy_id,
        "name": category.name,
        "slug": category.slug,
        "parent": category.parent_legacy_id,
        "path": path,
    }


def category_from_legacy_json(
    doc: Mapping[str, Any], *, sort_order: int, version: int = 0
) -> tuple[Category, str]:
    """Parse the monolith's category JSON and return it with its path.

    The JSON does not carry ``sort_order``; the caller says what it is rather than the
    ACL inventing one.
    """
    try:
        _exact_keys(doc, CATEGORY_JSON_KEYS)
        legacy_id = quirks.required_int(doc["id"], "id", minimum=1)
        parent = quirks.optional_int(doc["parent"], "parent", minimum=1)
        if parent == legacy_id:
            raise FieldProblem("parent", "a category cannot be its own parent", parent)
        name = quirks.required_text(doc["name"], "name")
        path = quirks.required_text(doc["path"], "path")
        if not (path == name or path.endswith(" / " + name)):
            raise FieldProblem("path", "does not end with the category's name", path)
        if (parent is None) != (path == name):
            raise FieldProblem("path", "disagrees with parent", path)
        category = Category(
            legacy_id=legacy_id,
            name=name,
            slug=quirks.required_text(doc["slug"], "slug"),
            parent_legacy_id=parent,
            sort_order=sort_order,
            version=version,
        )
    except FieldProblem as problem:
        raise untranslatable(CATEGORY_JSON, doc.get("id"), problem) from None
    return category, path


def render(document: object) -> bytes:
    """Serialise like DRF's ``JSONRenderer`` with the default settings (the reference)."""
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def category_detail_to_legacy_json(node: CategoryNode) -> dict[str, Any]:
    """``GET /api/categories/<slug>/``: the category plus its direct children."""
    body: dict[str, Any] = dict(category_to_legacy_json(node.category, node.path))
    body["children"] = [category_to_legacy_json(c.category, c.path) for c in node.children]
    return body
