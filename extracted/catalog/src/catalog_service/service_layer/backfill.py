"""Copy the monolith's catalog into the service through the ACL.

Batches in keyset order (``id > last ORDER BY id``), each upserted together with its
checkpoint in ONE service transaction, so a crash resumes after the last committed batch
and a rerun is idempotent. A row the ACL refuses goes to ``dead_letters`` and the copy
goes on. Rows get ``version`` from ``version_sql`` (an SQL expression over the legacy row
``p``): ``0`` until the outbox exists, so any later event wins; with the outbox, pass the
aggregate's current outbox version so replayed older events are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from acl.catalog.quirks import AttrsPolicy
from acl.catalog.rows import category_from_row, product_from_row
from acl.errors import UntranslatableRecord
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy import Engine

from catalog_service.adapters.repository import (
    CategoryRepository,
    Checkpoints,
    DeadLetters,
    ProductRepository,
)
from catalog_service.domain import Category, Product
from catalog_service.settings import psycopg_url

CHECKPOINT = "catalog"
PRODUCT_SQL = (
    "SELECT p.id, p.sku, p.nm, p.descr, p.cat_id, p.prc, p.cur, p.st, p.qty, p.attrs, p.wt,"
    " p.created, p.updated, {version} AS version FROM shop_product p"
    " WHERE p.id > %s ORDER BY p.id LIMIT %s"
)
CATEGORY_SQL = (
    "SELECT c.id, c.name, c.slug, c.parent_id, c.sort_order, {version} AS version"
    " FROM shop_category c ORDER BY c.id"
)


@dataclass
class BackfillReport:
    products: int = 0
    categories: int = 0
    failed: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    source_position: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.products / self.seconds if self.seconds else 0.0


class LegacySource:
    """Read-only access to the monolith's catalog tables (plain SQL)."""

    def __init__(self, url: str, *, version_sql: str = "0") -> None:
        self._conn = psycopg.connect(psycopg_url(url), row_factory=dict_row, autocommit=True)
        self._conn.execute("SET default_transaction_read_only = on")
        self._version = sql.SQL(version_sql)  # operator-supplied, not user input

    def close(self) -> None:
        self._conn.close()

    def count_products(self, after_id: int) -> int:
        row = self._conn.execute("SELECT count(*) AS n FROM shop_product WHERE id > %s",
                                 (after_id,)).fetchone()  # fmt: skip
        return int(row["n"]) if row else 0

    def categories(self) -> list[dict[str, Any]]:
        query = sql.SQL(CATEGORY_SQL).format(version=self._version)
        return self._conn.execute(query).fetchall()

    def product_batches(self, after_id: int, size: int) -> Iterator[list[dict[str, Any]]]:
        query = sql.SQL(PRODUCT_SQL).format(version=self._version)
        last = after_id
        while True:
            rows = self._conn.execute(query, (last, size)).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]


def run_backfill(
    engine: Engine,
    source: LegacySource,
    *,
    batch_size: int = 2000,
    source_position: str | None = None,
    restart: bool = False,
    attrs_policy: AttrsPolicy = AttrsPolicy.STRICT,
    on_progress: Callable[[int, int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BackfillReport:
    started = time.perf_counter()
    report = BackfillReport()
    with engine.begin() as conn:
        checkpoints = Checkpoints(conn)
        state = checkpoints.get(CHECKPOINT)
        if state is None or restart or state.finished_at is not None:
            checkpoints.start(CHECKPOINT, source_position)
            after = 0
        else:
            after = int(state.last_legacy_id)
        state = checkpoints.get(CHECKPOINT)
        report.source_position = state.source_position
    report.resumed_from = after
    if on_total:
        on_total(source.count_products(after))

    # Categories first: few rows, one transaction (re-copied on resume; idempotent).
    good: list[Category] = []
    with engine.begin() as conn:
        dead = DeadLetters(conn)
        for row in source.categories():
            try:
                good.append(category_from_row(row, version=int(row["version"])))
            except UntranslatableRecord as exc:
                report.failed += 1
                dead.add(source="backfill", aggregate_type="catalog.category",
                         aggregate_id=str(row.get("id")), reason=str(exc),
                         payload=_jsonable(row))  # fmt: skip
        report.categories = CategoryRepository(conn).upsert_many(good)

    for rows in source.product_batches(after, batch_size):
        products: list[Product] = []
        failures: list[tuple[dict[str, Any], UntranslatableRecord]] = []
        for row in rows:
            try:
                products.append(product_from_row(row, version=int(row["version"]),
                                                 attrs_policy=attrs_policy))  # fmt: skip
            except UntranslatableRecord as exc:
                failures.append((row, exc))
        with engine.begin() as conn:
            written = ProductRepository(conn).upsert_many(products)
            dead = DeadLetters(conn)
            for row, error in failures:
                dead.add(
                    source="backfill",
                    aggregate_type="catalog.product",
                    aggregate_id=str(row["id"]),
                    reason=str(error),
                    payload=_jsonable(row),
                )
            Checkpoints(conn).advance(CHECKPOINT, rows[-1]["id"], len(products), len(failures))
        report.products += len(products)
        report.failed += len(failures)
        if on_progress:
            on_progress(len(rows), written)
    with engine.begin() as conn:
        Checkpoints(conn).finish(CHECKPOINT)
    report.seconds = time.perf_counter() - started
    return report


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (int, str, type(None))) else str(v)) for k, v in row.items()}
