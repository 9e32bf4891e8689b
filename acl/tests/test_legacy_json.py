from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from acl.catalog.domain import (
    Attribute,
    Category,
    CategoryRef,
    Money,
    Product,
    ProductStatus,
    category_path,
    category_tree,
)
from acl.catalog.legacy_json import (
    PRODUCT_JSON_KEYS,
    category_detail_to_legacy_json,
    category_from_legacy_json,
    category_to_legacy_json,
    product_from_legacy_json,
    product_to_legacy_json,
    render,
)
from acl.testing import categories, products
from hypothesis import given
from hypothesis import strategies as st

from acl import UntranslatableRecord

MUG = Product(
    legacy_id=12,
    sku="SKU-000012",
    name="Mug “Classic”",
    description=None,
    category_legacy_id=3,
    price=Money(1250, "EUR"),
    status=ProductStatus.ACTIVE,
    stock=7,
    attributes=(Attribute("color", "red"), Attribute("size", "large box")),
    weight_grams=250,
    created_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
    updated_at=datetime(2024, 12, 1, 9, 0, 0, 5, tzinfo=UTC),
    legacy_sku=" sku-000012",
)
CUPS = CategoryRef(3, "Cups", "cups")


def test_golden_product_bytes() -> None:
    # updated_at has microseconds: the monolith's DATETIME_FORMAT drops them (quirk 18).
    body = render(product_to_legacy_json(MUG, CUPS))
    assert (
        body
        == (
            '{"id":12,"sku":" sku-000012","name":"Mug “Classic”","description":"",'
            '"price":"12.50","currency":"EUR","status":"A","stock":7,"in_stock":true,'
            '"category":{"id":3,"name":"Cups","slug":"cups"},'
            '"attributes":{"color":"red","size":"large box"},"weight_grams":250,'
            '"created":"2024-05-01T10:00:00","updated":"2024-12-01T10:00:00"}'
        ).encode()
    )


def test_key_order_is_the_legacy_order() -> None:
    assert tuple(product_to_legacy_json(MUG, None)) == PRODUCT_JSON_KEYS
    assert PRODUCT_JSON_KEYS[:4] == ("id", "sku", "name", "description")


def test_render_escapes_line_separators_like_drf() -> None:
    assert render({"a": "x\u2028y\u2029\n"}) == b'{"a":"x\\u2028y\\u2029\\n"}'


@given(products(), st.none() | st.builds(CategoryRef, st.integers(1, 99), st.text(), st.text()))
def test_json_round_trip(product: Product, ref: CategoryRef | None) -> None:
    if ref is not None:
        product = _with_category(product, ref.legacy_id)
    else:
        product = _with_category(product, None)
    doc = json.loads(render(product_to_legacy_json(product, ref)))
    back, back_ref = product_from_legacy_json(doc, version=product.version)
    # The legacy JSON shows whole seconds (quirk 18): that much survives the trip.
    assert back == replace(
        product,
        created_at=product.created_at.replace(microsecond=0),
        updated_at=product.updated_at.replace(microsecond=0),
    )
    assert back_ref == ref


def _with_category(product: Product, category_id: int | None) -> Product:
    return replace(product, category_legacy_id=category_id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"in_stock": False}, "in_stock"),
        ({"price": "12.5"}, "price"),
        ({"price": "1e3"}, "price"),
        ({"created": "2024-05-01T10:00:00+02:00"}, "created"),
        ({"status": "active"}, "status"),
        ({"category": {"id": 3}}, "category"),
        ({"attributes": {"a": 1}}, "attributes"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_legacy_json_is_untranslatable(change: dict[str, object], field: str) -> None:
    doc = json.loads(render(product_to_legacy_json(MUG, CUPS)))
    doc.update(change)
    with pytest.raises(UntranslatableRecord) as exc:
        product_from_legacy_json(doc)
    assert exc.value.field == field


def test_category_tree_and_paths() -> None:
    kitchen = Category(1, "Kitchen", "kitchen", None, 0)
    cups = Category(3, "Cups", "cups", 1, 0)
    mugs = Category(4, "Mugs", "mugs", 3, 0)
    orphan = Category(9, "Lost", "lost", 77, 0)
    garden = Category(2, "Garden", "garden", None, 1)
    nodes = category_tree([kitchen, cups, garden, mugs, orphan])
    assert [(n.category.slug, n.path, n.depth) for n in nodes] == [
        ("kitchen", "Kitchen", 0),
        ("cups", "Kitchen / Cups", 1),
        ("mugs", "Kitchen / Cups / Mugs", 2),
        ("garden", "Garden", 0),
    ]
    assert category_path(mugs, {c.legacy_id: c for c in [kitchen, cups, mugs]}) == (
        "Kitchen / Cups / Mugs"
    )
    detail = category_detail_to_legacy_json(nodes[1])
    assert render(detail) == (
        b'{"id":3,"name":"Cups","slug":"cups","parent":1,"path":"Kitchen / Cups",'
        b'"children":[{"id":4,"name":"Mugs","slug":"mugs","parent":3,'
        b'"path":"Kitchen / Cups / Mugs"}]}'
    )


def test_category_cycle_is_detected() -> None:
    a = Category(1, "A", "a", 2, 0)
    b = Category(2, "B", "b", 1, 0)
    with pytest.raises(ValueError, match="cycle"):
        category_path(a, {1: a, 2: b})
    assert category_tree([a, b]) == []


@given(categories())
def test_category_json_round_trip(category: Category) -> None:
    path = category.name if category.parent_legacy_id is None else f"Parent / {category.name}"
    doc = category_to_legacy_json(category, path)
    assert list(doc) == ["id", "name", "slug", "parent", "path"]
    back, back_path = category_from_legacy_json(doc, sort_order=category.sort_order)
    assert back == category
    assert back_path == path
