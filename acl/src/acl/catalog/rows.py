"""``shop_product`` / ``shop_category`` rows <-> the catalog domain, both ways."""

from __future__ import annotations

from collections.abc import Mapping

from acl.catalog import quirks
from acl.catalog.domain import Category, Product
from acl.catalog.legacy import LegacyCategoryRow, LegacyProductRow
from acl.errors import FieldProblem, untranslatable

PRODUCT_TABLE = "shop_product"
CATEGORY_TABLE = "shop_category"


def product_from_row(
    row: Mapping[str, object],
    *,
    version: int = 0,
    attrs_policy: quirks.AttrsPolicy = quirks.AttrsPolicy.STRICT,
) -> Product:
    """Translate a ``shop_product`` row; raises ``UntranslatableRecord`` (and logs it)."""
    try:
        legacy_id = quirks.required_int(row.get("id"), "id", minimum=1)
    except FieldProblem as problem:
        raise untranslatable(PRODUCT_TABLE, row.get("id"), problem) from None
    try:
        return _product(row, legacy_id, version, attrs_policy)
    except FieldProblem as problem:
        raise untranslatable(PRODUCT_TABLE, legacy_id, problem) from None


def _product(
    row: Mapping[str, object], legacy_id: int, version: int, attrs_policy: quirks.AttrsPolicy
) -> Product:
    for column in ("sku", "nm", "descr", "cat_id", "prc", "cur", "st", "qty", "attrs", "wt",
                   "created", "updated"):  # fmt: skip
        if column not in row:
            raise FieldProblem(column, "column missing from the row")
    raw_sku = quirks.required_text(row["sku"], "sku")
    sku = quirks.canonical_sku(raw_sku)
    raw_currency = quirks.required_text(row["cur"], "cur")
    currency = quirks.canonical_currency(raw_currency)
    return Product(
        legacy_id=legacy_id,
        sku=sku,
        name=quirks.required_text(row["nm"], "nm"),
        description=quirks.description_from_legacy(row["descr"]),
        category_legacy_id=quirks.optional_int(row["cat_id"], "cat_id", minimum=1),
        price=quirks.money_from_legacy(row["prc"], currency),
        status=quirks.status_from_legacy(row["st"]),
        stock=quirks.required_int(row["qty"], "qty"),
        attributes=quirks.parse_attrs(row["attrs"], policy=attrs_policy),
        weight_grams=quirks.optional_int(row["wt"], "wt", minimum=0),
        created_at=quirks.local_to_utc(row["created"], "created"),
        updated_at=quirks.local_to_utc(row["updated"], "updated"),
        version=version,
        legacy_sku=quirks.legacy_spelling(raw_sku, sku),
        legacy_currency=quirks.legacy_spelling(raw_currency, currency),
    )


def product_to_row(product: Product) -> LegacyProductRow:
    """The ``shop_product`` row for a product (for the reverse sync of step 4)."""
    try:
        return {
            "id": product.legacy_id,
            "sku": _fits(product.sku_as_legacy, quirks.LEGACY_SKU_MAX, "sku"),
            "nm": _fits(product.name, 200, "name"),
            "descr": product.description or "",
            "cat_id": product.category_legacy_id,
            "prc": quirks.money_to_legacy(product.price),
            "cur": product.currency_as_legacy,
            "st": quirks.STATUS_TO_LEGACY[product.status],
            "qty": product.stock,
            "attrs": quirks.pack_attrs(product.attributes),
            "wt": product.weight_grams,
            "created": quirks.utc_to_local(product.created_at, "created_at"),
            "updated": quirks.utc_to_local(product.updated_at, "updated_at"),
        }
    except FieldProblem as problem:
        raise untranslatable("catalog product", product.legacy_id, problem) from None


def _fits(value: str, limit: int, field: str) -> str:
    if len(value) > limit:
        raise FieldProblem(field, f"longer than the legacy column (varchar({limit}))", value)
    return value


def category_from_row(row: Mapping[str, object], *, version: int = 0) -> Category:
    try:
        legacy_id = quirks.required_int(row.get("id"), "id", minimum=1)
    except FieldProblem as problem:
        raise untranslatable(CATEGORY_TABLE, row.get("id"), problem) from None
    try:
        for column in ("name", "slug", "parent_id", "sort_order"):
            if column not in row:
                raise FieldProblem(column, "column missing from the row")
        parent = quirks.optional_int(row["parent_id"], "parent_id", minimum=1)
        if parent == legacy_id:
            raise FieldProblem("parent_id", "a category cannot be its own parent", parent)
        slug = quirks.required_text(row["slug"], "slug")
        if not slug:
            raise FieldProblem("slug", "empty slug", slug)
        return Category(
            legacy_id=legacy_id,
            name=quirks.required_text(row["name"], "name"),
            slug=slug,
            parent_legacy_id=parent,
            sort_order=quirks.required_int(row["sort_order"], "sort_order"),
            version=version,
        )
    except FieldProblem as problem:
        raise untranslatable(CATEGORY_TABLE, legacy_id, problem) from None


def category_to_row(category: Category) -> LegacyCategoryRow:
    try:
        return {
            "id": category.legacy_id,
            "name": _fits(category.name, 100, "name"),
            "slug": _fits(category.slug, 100, "slug"),
            "parent_id": category.parent_legacy_id,
            "sort_order": category.sort_order,
        }
    except FieldProblem as problem:
        raise untranslatable("catalog category", category.legacy_id, problem) from None
