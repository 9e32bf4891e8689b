"""Provider states for the catalog service, seeded through its own adapters.

The same state names and parameters as the monolith's ``shop.pact_states``; the data
goes in through the service's repositories (what its event consumer and backfill use),
never through the monolith. Every data setup wipes the read model first; the write
freeze states only set the flag. The states of the service's own write API (``a category
exists``, ``no product has the id``, the freeze) exist here only: the monolith does not
implement that provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from acl.catalog.domain import Attribute, Category, Money, Product, ProductStatus
from catalog_service.adapters.repository import CategoryRepository, ProductRepository
from catalog_service.service_layer.writes import set_frozen
from sqlalchemy import Connection, Engine, text

SEEDED_AT = datetime(2024, 5, 1, 8, tzinfo=UTC)
StateFn = Callable[[str, Mapping[str, Any]], None]


def _wipe(conn: Connection) -> None:
    conn.execute(text("TRUNCATE products, categories"))


def _category(conn: Connection, legacy_id: int, slug: str, name: str | None = None,
              parent: int | None = None) -> Category:  # fmt: skip
    category = Category(legacy_id, name or slug.replace("-", " ").title(), slug, parent, 0, 1)
    CategoryRepository(conn).upsert_many([category])
    return category


def _product(conn: Connection, params: Mapping[str, Any], *, legacy_id: int,
             category: Category | None) -> None:  # fmt: skip
    attributes = params.get("attributes") or {}
    product = Product(
        legacy_id=int(params.get("id", legacy_id)),
        sku=str(params.get("sku", "SKU-0001")).strip().upper(),
        name=str(params.get("name", "Espresso cup")),
        description=str(params.get("description", "")) or None,
        category_legacy_id=category.legacy_id if category else None,
        price=Money.from_decimal(
            Decimal(str(params.get("price", "12.50"))), str(params.get("currency", "EUR"))
        ),
        status=ProductStatus.ACTIVE,
        stock=int(params.get("stock", 5)),
        attributes=tuple(Attribute(str(k), str(v)) for k, v in attributes.items()),
        weight_grams=params.get("weight_grams"),
        created_at=SEEDED_AT,
        updated_at=SEEDED_AT,
        version=1,
    )
    ProductRepository(conn).upsert_many([product])


def _a_product_exists(conn: Connection, params: Mapping[str, Any]) -> None:
    slug = params.get("category")
    category = _category(conn, 1, str(slug)) if slug else None
    _product(conn, params, legacy_id=1, category=category)


def _products_exist_in_a_category(conn: Connection, params: Mapping[str, Any]) -> None:
    category = _category(conn, 1, str(params.get("category", "cups")))
    _product(conn, {**params, "id": 1}, legacy_id=1, category=category)
    other = _category(conn, 2, "elsewhere")
    _product(conn, {"id": 2, "sku": "OTHER-0001", "name": "Not in the category"}, legacy_id=2,
             category=other)  # fmt: skip


def _no_such_product(conn: Connection, params: Mapping[str, Any]) -> None:
    """The read model is empty (wiped before every state)."""


def _a_category_tree_exists(conn: Connection, params: Mapping[str, Any]) -> None:
    parent_id = int(params.get("parent_id", 1))
    parent = _category(conn, parent_id, str(params.get("parent", "kitchen")),
                       str(params.get("parent_name", "Kitchen")))  # fmt: skip
    _category(conn, parent_id + 1, str(params.get("child", "cups")),
              str(params.get("child_name", "Cups")), parent=parent.legacy_id)  # fmt: skip


def _a_category_exists(conn: Connection, params: Mapping[str, Any]) -> None:
    _category(conn, int(params.get("id", 3)), str(params.get("slug", "cups")),
              str(params.get("name", "Cups")))  # fmt: skip


SEEDERS: dict[str, Callable[[Connection, Mapping[str, Any]], None]] = {
    "a product exists": _a_product_exists,
    "products exist in a category": _products_exist_in_a_category,
    "no product has the sku": _no_such_product,
    "no product has the id": _no_such_product,
    "a category tree exists": _a_category_tree_exists,
    "a category exists": _a_category_exists,
}

# The write freeze (step 4) is a flag beside the data: these states set it and leave the
# data to the interaction's other state, so they can be combined with any of the above.
FREEZE_STATES: dict[str, bool] = {
    "catalog writes are open": False,
    "catalog writes are frozen": True,
}


def set_writes_frozen(engine: Engine, frozen: bool) -> None:
    with engine.begin() as conn:
        set_frozen(conn, frozen)


def state_handlers(engine: Engine) -> dict[str, Callable[..., None]]:
    """``{state name: handler(action, parameters)}`` for ``Verifier.state_handler``."""

    def make(seed: Callable[[Connection, Mapping[str, Any]], None]) -> Callable[..., None]:
        def handler(action: str, parameters: Mapping[str, Any] | None = None) -> None:
            if action != "setup":
                return
            with engine.begin() as conn:
                _wipe(conn)
                seed(conn, parameters or {})

        return handler

    def flag(frozen: bool) -> Callable[..., None]:
        def handler(action: str, parameters: Mapping[str, Any] | None = None) -> None:
            if action == "setup":
                set_writes_frozen(engine, frozen)

        return handler

    handlers = {name: make(seed) for name, seed in SEEDERS.items()}
    handlers.update({name: flag(frozen) for name, frozen in FREEZE_STATES.items()})
    return handlers
