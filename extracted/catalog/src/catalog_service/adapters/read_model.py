"""The read side (CQRS): lean SQL over an async psycopg pool, straight to domain objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from catalog_service.domain import (
    Attribute,
    Category,
    CategoryRef,
    Money,
    Product,
    ProductStatus,
)

_PRODUCT_COLUMNS = sql.SQL(
    "p.legacy_id, p.sku, p.sku_legacy, p.name, p.description, p.category_legacy_id, "
    "p.price_minor, p.currency, p.currency_legacy, p.status, p.stock, p.attributes, "
    "p.weight_grams, p.created_at, p.updated_at, p.version, c.legacy_id, c.name, c.slug"
)
_FROM = sql.SQL(
    " FROM products p LEFT JOIN categories c"
    " ON c.legacy_id = p.category_legacy_id AND NOT c.deleted"
)
LISTED = sql.SQL("p.status = 'active' AND NOT p.deleted")

# Public ordering names -> columns, id breaking ties (as the monolith does).
ORDERINGS: dict[str, sql.Composable] = {
    "id": sql.SQL("p.legacy_id"),
    "price": sql.SQL("p.price_minor, p.legacy_id"),
    "-price": sql.SQL("p.price_minor DESC, p.legacy_id DESC"),
    "name": sql.SQL("p.name, p.legacy_id"),
    "-name": sql.SQL("p.name DESC, p.legacy_id DESC"),
    "created": sql.SQL("p.created_at, p.legacy_id"),
    "-created": sql.SQL("p.created_at DESC, p.legacy_id DESC"),
}


@dataclass(frozen=True, slots=True)
class ProductFilter:
    category_ids: Sequence[int] | None = None
    search: str | None = None  # case-insensitive "contains" over name, sku, description
    listed_only: bool = True
    after_legacy_id: int | None = None  # keyset cursor (v2)


def _row_to_product(r: Sequence[Any]) -> tuple[Product, CategoryRef | None]:
    product = Product(
        legacy_id=r[0], sku=r[1], legacy_sku=r[2], name=r[3], description=r[4],
        category_legacy_id=r[5], price=Money(r[6], r[7]), legacy_currency=r[8],
        status=ProductStatus(r[9]), stock=r[10],
        attributes=tuple(Attribute(k, v) for k, v in r[11]), weight_grams=r[12],
        created_at=r[13], updated_at=r[14], version=r[15],
    )  # fmt: skip
    ref = None if r[16] is None else CategoryRef(r[16], r[17], r[18])
    return product, ref


def like_pattern(term: str) -> str:
    """Django's ``icontains`` escaping: the term is literal text."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(f: ProductFilter) -> tuple[sql.Composable, dict[str, Any]]:
    clauses: list[sql.Composable] = [LISTED if f.listed_only else sql.SQL("NOT p.deleted")]
    params: dict[str, Any] = {}
    if f.category_ids is not None:
        clauses.append(sql.SQL("p.category_legacy_id = ANY(%(cats)s)"))
        params["cats"] = list(f.category_ids)
    if f.search:
        clauses.append(sql.SQL(
            "(UPPER(p.name) LIKE UPPER(%(q)s) OR UPPER(COALESCE(p.sku_legacy, p.sku)) LIKE "
            "UPPER(%(q)s) OR UPPER(COALESCE(p.description, '')) LIKE UPPER(%(q)s))"
        ))  # fmt: skip
        params["q"] = like_pattern(f.search)
    if f.after_legacy_id is not None:
        clauses.append(sql.SQL("p.legacy_id > %(after)s"))
        params["after"] = f.after_legacy_id
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params


class CatalogReads:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def count_products(self, f: ProductFilter) -> int:
        where, params = _where(f)
        query = sql.SQL("SELECT count(*) FROM products p") + where
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def list_products(
        self, f: ProductFilter, ordering: str, limit: int, offset: int = 0
    ) -> list[tuple[Product, CategoryRef | None]]:
        where, params = _where(f)
        query = (
            sql.SQL("SELECT ") + _PRODUCT_COLUMNS + _FROM + where
            + sql.SQL(" ORDER BY ") + ORDERINGS[ordering]
            + sql.SQL(" LIMIT %(limit)s OFFSET %(offset)s")
        )  # fmt: skip
        params.update(limit=limit, offset=offset)
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
        return [_row_to_product(r) for r in rows]

    async def product(
        self, *, legacy_id: int | None = None, sku: str | None = None, listed_only: bool = True
    ) -> tuple[Product, CategoryRef | None] | None:
        visible = LISTED if listed_only else sql.SQL("NOT p.deleted")
        params: dict[str, Any]
        if legacy_id is not None:
            cond, params = sql.SQL("p.legacy_id = %(v)s"), {"v": legacy_id}
        else:
            # The monolith compares UPPER(TRIM(sku)); ours is stored canonical.
            cond, params = sql.SQL("p.sku = %(v)s"), {"v": sku}
        query = (
            sql.SQL("SELECT ") + _PRODUCT_COLUMNS + _FROM + sql.SQL(" WHERE ") + visible
            + sql.SQL(" AND ") + cond + sql.SQL(" ORDER BY p.legacy_id LIMIT 1")
        )  # fmt: skip
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
        return None if row is None else _row_to_product(row)

    async def categories(self) -> list[Category]:
        """All live categories in the monolith's sibling order (sort_order, name, id)."""
        query = (
            "SELECT legacy_id, name, slug, parent_legacy_id, sort_order, version FROM categories"
            " WHERE NOT deleted ORDER BY sort_order, name, legacy_id"
        )
        async with self._pool.connection() as conn:
            cur = await conn.execute(query)
            rows = await cur.fetchall()
        return [Category(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def ping(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1")
