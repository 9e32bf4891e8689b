"""Repositories over SQLAlchemy Core: domain objects in, domain objects out."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from catalog_service.adapters.tables import (
    backfill_checkpoints,
    categories,
    dead_letters,
    products,
)
from catalog_service.domain import Attribute, Category, Money, Product, ProductStatus


def product_values(product: Product) -> dict[str, Any]:
    return {
        "legacy_id": product.legacy_id,
        "sku": product.sku,
        "sku_legacy": product.legacy_sku,
        "name": product.name,
        "description": product.description,
        "category_legacy_id": product.category_legacy_id,
        "price_minor": product.price.amount_minor,
        "currency": product.price.currency,
        "currency_legacy": product.legacy_currency,
        "status": str(product.status),
        "stock": product.stock,
        "attributes": [[a.key, a.value] for a in product.attributes],
        "weight_grams": product.weight_grams,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "version": product.version,
        "stock_version": product.version,
        "deleted": False,
    }


def product_from_record(r: Any) -> Product:
    return Product(
        legacy_id=r.legacy_id,
        sku=r.sku,
        name=r.name,
        description=r.description,
        category_legacy_id=r.category_legacy_id,
        price=Money(r.price_minor, r.currency),
        status=ProductStatus(r.status),
        stock=r.stock,
        attributes=tuple(Attribute(k, v) for k, v in r.attributes),
        weight_grams=r.weight_grams,
        created_at=r.created_at,
        updated_at=r.updated_at,
        version=r.version,
        legacy_sku=r.sku_legacy,
        legacy_currency=r.currency_legacy,
    )


def category_values(category: Category) -> dict[str, Any]:
    return {
        "legacy_id": category.legacy_id,
        "name": category.name,
        "slug": category.slug,
        "parent_legacy_id": category.parent_legacy_id,
        "sort_order": category.sort_order,
        "version": category.version,
        "deleted": False,
    }


def _upsert(table: Any, *, allow_equal: bool) -> Any:
    """INSERT .. ON CONFLICT (legacy_id) DO UPDATE .. WHERE the stored version is older.

    Built without values so it compiles once and runs as a cached executemany.
    """
    stmt = insert(table)
    excluded = stmt.excluded
    newer = (
        table.c.version <= excluded.version if allow_equal else table.c.version < excluded.version
    )
    updates = {c.name: excluded[c.name] for c in table.columns if c.name not in {"id", "legacy_id"}}
    updates["synced_at"] = func.now()
    return stmt.on_conflict_do_update(index_elements=["legacy_id"], set_=updates, where=newer)


_PRODUCT_UPSERT = {flag: _upsert(products, allow_equal=flag) for flag in (True, False)}
_CATEGORY_UPSERT = {flag: _upsert(categories, allow_equal=flag) for flag in (True, False)}


class ProductRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, legacy_id: int) -> Product | None:
        row = self._c.execute(
            select(products).where(products.c.legacy_id == legacy_id, ~products.c.deleted)
        ).first()
        return None if row is None else product_from_record(row)

    def stored_version(self, legacy_id: int) -> int | None:
        return self._c.execute(
            select(products.c.version).where(products.c.legacy_id == legacy_id)
        ).scalar_one_or_none()

    def upsert_if_newer(self, product: Product) -> bool:
        """Insert, or overwrite an older version; False when an equal/newer one is stored."""
        stmt = _PRODUCT_UPSERT[False].returning(products.c.legacy_id)
        return self._c.execute(stmt, product_values(product)).first() is not None

    def take_stock(self, legacy_id: int, stock: int, version: int) -> bool:
        """Only the stock, from a monolith version newer than the one it came from."""
        result = self._c.execute(
            products.update()
            .where(products.c.legacy_id == legacy_id, products.c.stock_version < version)
            .values(stock=stock, stock_version=version, synced_at=func.now())
        )
        return bool(result.rowcount)

    def upsert_many(self, items: Iterable[Product], *, allow_equal: bool = True) -> int:
        """Bulk form for the backfill (same "not older" rule); returns the rows submitted."""
        rows = [product_values(p) for p in items]
        if not rows:
            return 0
        self._c.execute(_PRODUCT_UPSERT[allow_equal], rows)
        return len(rows)

    def tombstone_if_newer(self, legacy_id: int, version: int) -> bool:
        """Mark deleted (kept, so an older upsert arriving late cannot resurrect it)."""
        existing = self._c.execute(
            select(products.c.version).where(products.c.legacy_id == legacy_id).with_for_update()
        ).scalar_one_or_none()
        if existing is None:
            return False  # nothing to delete; a late older upsert will be refused below it
        if existing >= version:
            return False
        self._c.execute(
            products.update()
            .where(products.c.legacy_id == legacy_id)
            .values(deleted=True, version=version)
        )
        return True


class CategoryRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def upsert_if_newer(self, category: Category) -> bool:
        stmt = _CATEGORY_UPSERT[False].returning(categories.c.legacy_id)
        return self._c.execute(stmt, category_values(category)).first() is not None

    def upsert_many(self, items: Iterable[Category], *, allow_equal: bool = True) -> int:
        rows = [category_values(c) for c in items]
        if not rows:
            return 0
        self._c.execute(_CATEGORY_UPSERT[allow_equal], rows)
        return len(rows)

    def tombstone_if_newer(self, legacy_id: int, version: int) -> bool:
        result = self._c.execute(
            categories.update()
            .where(categories.c.legacy_id == legacy_id, categories.c.version < version)
            .values(deleted=True, version=version)
        )
        return bool(result.rowcount)


class DeadLetters:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, *, source: str, aggregate_type: str, aggregate_id: str, reason: str,
            payload: Any = None, event_id: uuid.UUID | None = None,
            version: int | None = None) -> None:  # fmt: skip
        self._c.execute(dead_letters.insert().values(
            source=source, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
            reason=reason, payload=payload, event_id=event_id, version=version,
        ))  # fmt: skip


class Checkpoints:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, name: str) -> Any:
        return self._c.execute(
            select(backfill_checkpoints).where(backfill_checkpoints.c.name == name)
        ).first()

    def start(self, name: str, source_position: str | None) -> None:
        stmt = insert(backfill_checkpoints).values(
            name=name, last_legacy_id=0, rows_done=0, rows_failed=0,
            source_position=source_position,
        )  # fmt: skip
        self._c.execute(stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"last_legacy_id": 0, "rows_done": 0, "rows_failed": 0,
                  "source_position": source_position, "started_at": func.now(),
                  "updated_at": func.now(), "finished_at": None},
        ))  # fmt: skip

    def advance(self, name: str, last_legacy_id: int, done: int, failed: int) -> None:
        self._c.execute(
            backfill_checkpoints.update()
            .where(backfill_checkpoints.c.name == name)
            .values(
                last_legacy_id=last_legacy_id,
                rows_done=backfill_checkpoints.c.rows_done + done,
                rows_failed=backfill_checkpoints.c.rows_failed + failed,
                updated_at=func.now(),
            )
        )

    def finish(self, name: str) -> None:
        self._c.execute(
            backfill_checkpoints.update()
            .where(backfill_checkpoints.c.name == name)
            .values(finished_at=func.now(), updated_at=func.now())
        )
