"""One function per provider state name; each wipes the catalog, then seeds via services.

Parameters come from the pact (``given("a product exists", id=42, sku=...)``). Ids are
pinned by restarting the identity sequence before the service creates the row, so the
service functions stay the only writers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db import connection, transaction

from shop.catalog import services
from shop.catalog.models import Category

StateHandler = Callable[[Mapping[str, Any]], None]

_CATALOG_TABLES = ("shop_product", "shop_category")


def wipe_catalog() -> None:
    with connection.cursor() as cursor:
        # CASCADE: stock moves, cart and order lines that point at products go too.
        cursor.execute(f"TRUNCATE {', '.join(_CATALOG_TABLES)} RESTART IDENTITY CASCADE")


def _next_id(table: str, value: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, value])


def _category(slug: str, name: str | None = None, parent: Category | None = None) -> Category:
    existing = Category.objects.filter(slug=slug).first()
    if existing is not None:
        return existing
    return services.category_create(name=name or slug.replace("-", " ").title(), slug=slug,
                                    parent=parent)  # fmt: skip


def _product(params: Mapping[str, Any], *, category: Category | None) -> None:
    if "id" in params:
        _next_id("shop_product", int(params["id"]))
    services.product_create(
        sku=str(params.get("sku", "SKU-0001")),
        name=str(params.get("name", "Espresso cup")),
        price=str(params.get("price", "12.50")),
        currency=str(params.get("currency", "EUR")),
        description=str(params.get("description", "")),
        category=category,
        attributes=params.get("attributes") or {},
        weight_grams=params.get("weight_grams"),
        stock=int(params.get("stock", 5)),
        actor="pact",
    )


def a_product_exists(params: Mapping[str, Any]) -> None:
    slug = params.get("category")
    category = _category(str(slug)) if slug else None
    _product(params, category=category)


def products_exist_in_a_category(params: Mapping[str, Any]) -> None:
    category = _category(str(params.get("category", "cups")))
    _product(params, category=category)
    other = _category("elsewhere")
    _product({"sku": "OTHER-0001", "name": "Not in the category"}, category=other)


def no_product_has_the_sku(params: Mapping[str, Any]) -> None:
    """The catalog is empty (wiped before every state)."""


def a_category_tree_exists(params: Mapping[str, Any]) -> None:
    parent_slug = str(params.get("parent", "kitchen"))
    child_slug = str(params.get("child", "cups"))
    _next_id("shop_category", int(params.get("parent_id", 1)))
    parent = _category(parent_slug, str(params.get("parent_name", parent_slug.title())))
    _category(child_slug, str(params.get("child_name", child_slug.title())), parent=parent)


STATES: dict[str, StateHandler] = {
    "a product exists": a_product_exists,
    "products exist in a category": products_exist_in_a_category,
    "no product has the sku": no_product_has_the_sku,
    "a category tree exists": a_category_tree_exists,
}


def _order_states() -> dict[str, StateHandler]:
    from shop.pact_states import orders

    def seed(handler: StateHandler) -> StateHandler:
        def run(params: Mapping[str, Any]) -> None:
            orders.wipe_orders()
            handler(params)

        return run

    return {name: seed(handler) for name, handler in orders.STATES.items()}


STATES.update(_order_states())


@transaction.atomic
def apply(state: str, params: Mapping[str, Any]) -> None:
    handler = STATES[state]  # KeyError: unknown state
    wipe_catalog()
    handler(params)
