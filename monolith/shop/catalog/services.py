"""Every write to catalog data (``shop_category``, ``shop_product``).

Keyword-only arguments, one transaction per call, validation that every entry point
(API, admin, seed) shares. Each write records its outbox event(s) in the same
transaction (``shop.outbox.events``), one line next to the write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Trim, Upper
from django.utils.text import slugify

from shop.catalog.attrs import attrs_errors, format_attrs
from shop.catalog.models import Category, Product, ProductStatus
from shop.catalog.ownership import ensure_catalog_writable
from shop.core.clock import legacy_now
from shop.core.errors import Conflict, DuplicateSku, ValidationFailed
from shop.inventory import services as inventory
from shop.outbox import events


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
# model field name -> legacy column name, for the events' "changed" list
_COLUMN: Final = {"category": "cat_id"}
"""Marks "leave this field as it is" in the ``*_update`` services."""

SKU_RE = re.compile(r"^[A-Z0-9][A-Z0-9._/-]*$")
MAX_PRICE = Decimal("99999999.99")  # numeric(10,2)


def normalize_sku(raw: str) -> str:
    """The post-2019 SKU form: stripped, upper-case. Lookups compare UPPER(TRIM(sku))."""
    return str(raw).strip().upper()


# --- validation shared by create and update -----------------------------------------------


def _clean_sku(raw: object, errors: dict[str, list[str]]) -> str:
    sku = normalize_sku(str(raw or ""))
    if not sku:
        errors.setdefault("sku", []).append("This field may not be blank.")
    elif len(sku) > 32:
        errors.setdefault("sku", []).append("At most 32 characters.")
    elif not SKU_RE.match(sku):
        errors.setdefault("sku", []).append("Only letters, digits and . _ / - are allowed.")
    return sku


def _clean_name(raw: object, errors: dict[str, list[str]]) -> str:
    name = str(raw or "").strip()
    if not name:
        errors.setdefault("name", []).append("This field may not be blank.")
    elif len(name) > 200:
        errors.setdefault("name", []).append("At most 200 characters.")
    return name


def _clean_price(raw: object, errors: dict[str, list[str]]) -> Decimal:
    try:
        price = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        errors.setdefault("price", []).append("A valid number is required.")
        return Decimal(0)
    if not price.is_finite():
        errors.setdefault("price", []).append("A valid number is required.")
    elif price < 0:
        errors.setdefault("price", []).append("Must not be negative.")
    elif price > MAX_PRICE:
        errors.setdefault("price", []).append(f"Must not exceed {MAX_PRICE}.")
    elif price != price.quantize(Decimal("0.01")):
        errors.setdefault("price", []).append("At most 2 decimal places.")
    else:
        return price.quantize(Decimal("0.01"))
    return Decimal(0)


def _clean_currency(raw: object, errors: dict[str, list[str]]) -> str:
    currency = str(raw or "").strip().upper()
    if currency not in settings.SHOP_CURRENCIES:
        errors.setdefault("currency", []).append(
            f"Unsupported currency {raw!r}; use one of {', '.join(settings.SHOP_CURRENCIES)}."
        )
    return currency


def _clean_status(raw: object, errors: dict[str, list[str]]) -> str:
    if raw not in ProductStatus.values:
        errors.setdefault("status", []).append("Must be one of 'A', 'H', 'D'.")
    return str(raw)


def _clean_attrs(raw: object, errors: dict[str, list[str]]) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, Mapping):
        errors.setdefault("attributes", []).append("Must be an object of name: value.")
        return ""
    problems = attrs_errors(raw)
    if problems:
        errors.setdefault("attributes", []).extend(problems)
        return ""
    return format_attrs(raw)


def _clean_weight(raw: object, errors: dict[str, list[str]]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0 or raw > 2_147_483_647:
        errors.setdefault("weight_grams", []).append("Must be a non-negative integer or null.")
        return None
    return raw


def _clean_stock(raw: object, errors: dict[str, list[str]]) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0 or raw > 2_147_483_647:
        errors.setdefault("stock", []).append("Must be a non-negative integer.")
        return 0
    return raw


def _ensure_sku_free(sku: str, *, exclude_pk: int | None = None) -> None:
    clash = Product.objects.annotate(norm=Upper(Trim("sku"))).filter(norm=sku)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise DuplicateSku(
            f"SKU {sku} is already used by another product.",
            errors={"sku": [f"A product with SKU {sku} already exists."]},
        )


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)


# --- products -------------------------------------------------------------------------------


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal | str | int,
    currency: str = "EUR",
    description: str = "",
    category: Category | None = None,
    status: str = ProductStatus.ACTIVE,
    attributes: Mapping[str, Any] | None = None,
    weight_grams: int | None = None,
    stock: int = 0,
    actor: str = "",
) -> Product:
    ensure_catalog_writable()
    errors: dict[str, list[str]] = {}
    product = Product(
        sku=_clean_sku(sku, errors),
        nm=_clean_name(name, errors),
        descr=str(description or ""),
        category=category,
        prc=_clean_price(price, errors),
        cur=_clean_currency(currency, errors),
        st=_clean_status(status, errors),
        attrs=_clean_attrs(attributes, errors),
        wt=_clean_weight(weight_grams, errors),
        qty=0,
    )
    initial_stock = _clean_stock(stock, errors)
    _raise_if(errors)
    _ensure_sku_free(product.sku)
    product.created = product.updated = legacy_now()
    try:
        with transaction.atomic():
            product.save(force_insert=True)
    except IntegrityError as exc:  # a concurrent create won the race for the sku
        raise DuplicateSku(
            errors={"sku": [f"A product with SKU {product.sku} already exists."]}
        ) from exc
    events.products_changed([product.pk])
    if initial_stock:
        inventory.stock_adjust(
            product_id=product.pk,
            delta=initial_stock,
            reason="initial",
            ref=actor or "product_create",
        )
        product.refresh_from_db(fields=["qty", "updated"])
    return product


@transaction.atomic
def product_update(
    *,
    product: Product,
    sku: str | _Unset = UNSET,
    name: str | _Unset = UNSET,
    description: str | _Unset = UNSET,
    price: Decimal | str | int | _Unset = UNSET,
    currency: str | _Unset = UNSET,
    category: Category | _Unset | None = UNSET,
    status: str | _Unset = UNSET,
    attributes: Mapping[str, Any] | _Unset | None = UNSET,
    weight_grams: int | _Unset | None = UNSET,
    stock: int | _Unset = UNSET,
    actor: str = "",
) -> Product:
    """Change the given fields; ``UNSET`` ones stay. Stock goes through inventory (stock-take)."""
    ensure_catalog_writable()
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if not isinstance(sku, _Unset):
        changes["sku"] = _clean_sku(sku, errors)
    if not isinstance(name, _Unset):
        changes["nm"] = _clean_name(name, errors)
    if not isinstance(description, _Unset):
        changes["descr"] = str(description or "")
    if not isinstance(price, _Unset):
        changes["prc"] = _clean_price(price, errors)
    if not isinstance(currency, _Unset):
        changes["cur"] = _clean_currency(currency, errors)
    if not isinstance(category, _Unset):
        changes["category"] = category
    if not isinstance(status, _Unset):
        changes["st"] = _clean_status(status, errors)
    if not isinstance(attributes, _Unset):
        changes["attrs"] = _clean_attrs(attributes, errors)
    if not isinstance(weight_grams, _Unset):
        changes["wt"] = _clean_weight(weight_grams, errors)
    new_stock = None if isinstance(stock, _Unset) else _clean_stock(stock, errors)
    _raise_if(errors)
    # A legacy row keeps its odd sku until someone actually changes it.
    if "sku" in changes and changes["sku"] == normalize_sku(product.sku):
        del changes["sku"]
    if "sku" in changes:
        _ensure_sku_free(changes["sku"], exclude_pk=product.pk)
    if changes:
        changes["updated"] = legacy_now()
        try:
            with transaction.atomic():
                Product.objects.filter(pk=product.pk).update(**changes)
        except IntegrityError as exc:
            raise DuplicateSku(errors={"sku": ["A product with this SKU already exists."]}) from exc
        events.products_changed([product.pk], changed=[_COLUMN.get(name, name) for name in changes])
    if new_stock is not None:
        inventory.stock_set(
            product_id=product.pk, quantity=new_stock, ref=actor or "product_update"
        )
    product.refresh_from_db()
    return product


@transaction.atomic
def product_set_status(*, product: Product, status: str) -> Product:
    ensure_catalog_writable()
    errors: dict[str, list[str]] = {}
    _clean_status(status, errors)
    _raise_if(errors)
    Product.objects.filter(pk=product.pk).update(st=status, updated=legacy_now())
    events.products_changed([product.pk], changed=["st", "updated"])
    product.refresh_from_db(fields=["st", "updated"])
    return product


@transaction.atomic
def product_delete(*, product: Product) -> Product:
    """Soft delete: status 'D'. Rows are never removed (order lines reference them)."""
    return product_set_status(product=product, status=ProductStatus.DISCONTINUED)


@transaction.atomic
def product_bulk_set_status(*, product_ids: Sequence[int], status: str) -> int:
    """One UPDATE for many products (admin bulk action). Returns the number of rows changed."""
    ensure_catalog_writable()
    errors: dict[str, list[str]] = {}
    _clean_status(status, errors)
    _raise_if(errors)
    ids = sorted(set(product_ids))
    if not ids:
        return 0
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE shop_product SET st = %s, updated = %s"  # noqa: S608 (constant SQL)
            f" WHERE id = ANY(%s) AND st <> %s {events.RETURNING_PRODUCT}",
            [status, legacy_now(), ids, status],
        )
        rows = events.as_product_rows(cur.fetchall())
    # The rows as updated, read back by the UPDATE itself; one outbox statement for all.
    events.products_changed(rows=rows, changed=["st", "updated"])
    return len(rows)


# --- categories -----------------------------------------------------------------------------


def _clean_category(
    *, name: object, slug: object, parent: Category | None, errors: dict[str, list[str]]
) -> tuple[str, str]:
    clean_name = str(name or "").strip()
    if not clean_name:
        errors.setdefault("name", []).append("This field may not be blank.")
    elif len(clean_name) > 100:
        errors.setdefault("name", []).append("At most 100 characters.")
    clean_slug = slugify(str(slug)) if slug else slugify(clean_name)
    if not clean_slug:
        errors.setdefault("slug", []).append("Could not derive a slug; give one.")
    elif len(clean_slug) > 100:
        errors.setdefault("slug", []).append("At most 100 characters.")
    return clean_name, clean_slug


def _ensure_slug_free(slug: str, *, exclude_pk: int | None = None) -> None:
    clash = Category.objects.filter(slug=slug)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise Conflict(
            f"Category slug {slug!r} is taken.", errors={"slug": ["This slug is already used."]}
        )


@transaction.atomic
def category_create(
    *, name: str, slug: str | None = None, parent: Category | None = None, sort_order: int = 0
) -> Category:
    errors: dict[str, list[str]] = {}
    clean_name, clean_slug = _clean_category(name=name, slug=slug, parent=parent, errors=errors)
    _raise_if(errors)
    _ensure_slug_free(clean_slug)
    category = Category(name=clean_name, slug=clean_slug, parent=parent, sort_order=sort_order)
    category.save(force_insert=True)
    events.categories_changed([category.pk])
    return category


@transaction.atomic
def category_update(
    *,
    category: Category,
    name: str | _Unset = UNSET,
    slug: str | _Unset = UNSET,
    parent: Category | _Unset | None = UNSET,
    sort_order: int | _Unset = UNSET,
) -> Category:
    errors: dict[str, list[str]] = {}
    new_parent = category.parent if isinstance(parent, _Unset) else parent
    clean_name, clean_slug = _clean_category(
        name=category.name if isinstance(name, _Unset) else name,
        slug=category.slug if isinstance(slug, _Unset) else slug,
        parent=new_parent,
        errors=errors,
    )
    # A category may not move under itself or one of its descendants.
    ancestor = new_parent
    while ancestor is not None:
        if ancestor.pk == category.pk:
            errors.setdefault("parent", []).append("A category cannot be its own ancestor.")
            break
        ancestor = ancestor.parent
    _raise_if(errors)
    if clean_slug != category.slug:
        _ensure_slug_free(clean_slug, exclude_pk=category.pk)
    category.name, category.slug, category.parent = clean_name, clean_slug, new_parent
    if not isinstance(sort_order, _Unset):
        category.sort_order = sort_order
    category.save()
    events.categories_changed([category.pk])
    return category
