"""Copy the monolith's catalog into the service through the ACL.

Batches in keyset order (``id > last ORDER BY id``), each upserted together with its
checkpoint in ONE service transaction, so a crash resumes after the last committed batch
and a rerun is idempotent. A row the ACL refuses goes to ``dead_letters`` and the copy
goes on.

No change made during the backfill is lost or applied out of order: every read runs in ONE
``REPEATABLE READ`` snapshot of the monolith, and each row's ``version`` is its
aggregate's counter in the monolith's outbox (``outbox_aggregate_version``) read in that
same snapshot (the counter and the row change in the same transaction, so they agree).
Events at or below that version are older than the copy and the consumer skips them;
events above it are newer and apply; the upserts here never overwrite a newer version an
event already wrote. The outbox position at the snapshot (its xmin horizon and highest
row id) is recorded in the checkpoint. Without an outbox (a bare legacy database) the
version is 0, so any later event wins. A resumed backfill takes a new snapshot: the rows
copied before the crash are then older than their events, which heal them.
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
# The aggregate's version in the monolith's outbox, read in the backfill's snapshot.
OUTBOX_PRODUCT_VERSION = (
    "coalesce((SELECT v.version FROM outbox_aggregate_version v WHERE v.aggregate_type ="
    " 'catalog.product' AND v.aggregate_id = p.id::text), 0)"
)
OUTBOX_CATEGORY_VERSION = (
    "coalesce((SELECT v.version FROM outbox_aggregate_version v WHERE v.aggregate_type ="
    " 'catalog.category' AND v.aggregate_id = c.id::text), 0)"
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
    """Read-only access to the monolith's catalog tables (plain SQL), in ONE snapshot.

    ``version_sql``: an SQL expression over the legacy row (``p`` or ``c``) giving its
    version; ``None`` = the outbox's version counter when the monolith has an outbox,
    else ``0``.
    """

    def __init__(self, url: str, *, version_sql: str | None = None) -> None:
        self._conn = psycopg.connect(psycopg_url(url), row_factory=dict_row, autocommit=True)
        # One REPEATABLE READ, read-only transaction for every read: the rows and their
        # outbox versions are one consistent cut of the monolith.
        self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = self._conn.execute(
            "SELECT to_regclass('outbox_aggregate_version') IS NOT NULL AS has_outbox"
        ).fetchone()
        self.has_outbox = bool(row and row["has_outbox"])
        if version_sql is None:
            product_version = OUTBOX_PRODUCT_VERSION if self.has_outbox else "0"
            category_version = OUTBOX_CATEGORY_VERSION if self.has_outbox else "0"
        else:
            product_version = category_version = version_sql
        self._product_version = sql.SQL(product_version)  # operator-supplied, not user input
        self._category_version = sql.SQL(category_version)

    def position(self) -> str | None:
        """Where the outbox stood at the snapshot: ``xmin=<horizon> max_id=<row id>``."""
        if not self.has_outbox:
            return None
        row = self._conn.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,"
            " (SELECT coalesce(max(id), 0) FROM outbox) AS max_id"
        ).fetchone()
        return f"xmin={row['xmin']} max_id={row['max_id']}" if row else None

    def close(self) -> None:
        try:
            self._conn.execute("COMMIT")
        finally:
            self._conn.close()

    def count_products(self, after_id: int) -> int:
        row = self._conn.execute("SELECT count(*) AS n FROM shop_product WHERE id > %s",
                                 (after_id,)).fetchone()  # fmt: skip
        return int(row["n"]) if row else 0

    def categories(self) -> list[dict[str, Any]]:
        query = sql.SQL(CATEGORY_SQL).format(version=self._category_version)
        return self._conn.execute(query).fetchall()

    def product_batches(self, after_id: int, size: int) -> Iterator[list[dict[str, Any]]]:
        query = sql.SQL(PRODUCT_SQL).format(version=self._product_version)
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
    if source_position is None:
        source_position = source.position()
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
