"""Importing the monolith's existing orders as ``OrderImported`` streams, through the ACL.

Batched by legacy id, resumable (``backfill_checkpoints``), idempotent (an order whose
stream exists is skipped), and silent towards the monolith (no outbox event: the legacy
tables already hold these orders). Rows the ACL refuses go to ``dead_letters``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from acl.errors import UntranslatableRecord
from acl.orders.legacy import LINE_COLUMNS, ORDER_COLUMNS, PAYMENT_COLUMNS, order_from_rows
from psycopg.rows import dict_row
from sqlalchemy import Engine, text

from orders_service.adapters.event_store import ConcurrencyConflict, OrderRepository
from orders_service.domain.events import OrderImported
from orders_service.settings import psycopg_url

CHECKPOINT = "orders"


@dataclass(frozen=True)
class BackfillReport:
    imported: int
    skipped: int
    failed: int
    seconds: float
    resumed_from: int | None

    @property
    def rows_per_second(self) -> float:
        done = self.imported + self.skipped + self.failed
        return done / self.seconds if self.seconds > 0 else 0.0


class LegacySource:
    """The monolith's order tables, read only, in a repeatable-read snapshot."""

    def __init__(self, dsn: str) -> None:
        self._conn = psycopg.connect(psycopg_url(dsn), row_factory=dict_row)
        self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def close(self) -> None:
        self._conn.rollback()
        self._conn.close()

    def count(self, after: int) -> int:
        row = self._conn.execute("SELECT count(*) AS n FROM shop_order WHERE id > %s",
                                 (after,)).fetchone()  # fmt: skip
        return int(row["n"]) if row else 0

    def batch(self, after: int, size: int) -> list[tuple[dict[str, Any], list[Any], list[Any]]]:
        orders = self._conn.execute(
            f"SELECT {', '.join(ORDER_COLUMNS)} FROM shop_order WHERE id > %s"  # noqa: S608
            " ORDER BY id LIMIT %s", (after, size),
        ).fetchall()  # fmt: skip
        if not orders:
            return []
        ids = [o["id"] for o in orders]
        lines = self._conn.execute(
            f"SELECT {', '.join(LINE_COLUMNS)} FROM shop_orderline"  # noqa: S608
            " WHERE order_id = ANY(%s) ORDER BY id", (ids,),
        ).fetchall()  # fmt: skip
        payments = self._conn.execute(
            f"SELECT {', '.join(PAYMENT_COLUMNS)} FROM shop_payment"  # noqa: S608
            " WHERE order_id = ANY(%s) ORDER BY id", (ids,),
        ).fetchall()  # fmt: skip
        by_order: dict[int, tuple[list[Any], list[Any]]] = {i: ([], []) for i in ids}
        for line in lines:
            by_order[line["order_id"]][0].append(line)
        for payment in payments:
            by_order[payment["order_id"]][1].append(payment)
        return [(o, *by_order[o["id"]]) for o in orders]


def run_backfill(
    engine: Engine, source: LegacySource, *, batch_size: int = 500, restart: bool = False,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> BackfillReport:  # fmt: skip
    start = time.perf_counter()
    with engine.begin() as conn:
        row = conn.execute(text("SELECT last_legacy_id, finished_at FROM backfill_checkpoints"
                                " WHERE name = :n"), {"n": CHECKPOINT}).one_or_none()  # fmt: skip
        if row is None or restart or row.finished_at is not None:
            after, resumed = 0, None
            conn.execute(
                text("INSERT INTO backfill_checkpoints (name, last_legacy_id, rows_done,"
                     " rows_failed) VALUES (:n, 0, 0, 0) ON CONFLICT (name) DO UPDATE SET"
                     " last_legacy_id = 0, rows_done = 0, rows_failed = 0, started_at = now(),"
                     " updated_at = now(), finished_at = NULL"), {"n": CHECKPOINT},
            )  # fmt: skip
        else:
            after, resumed = int(row.last_legacy_id), int(row.last_legacy_id)
    if on_total is not None:
        on_total(source.count(after))
    imported = skipped = failed = 0
    while True:
        batch = source.batch(after, batch_size)
        if not batch:
            break
        with engine.begin() as conn:
            orders = OrderRepository(conn)
            for order_row, line_rows, payment_rows in batch:
                try:
                    snapshot = order_from_rows(order_row, line_rows, payment_rows)
                except UntranslatableRecord as exc:
                    failed += 1
                    conn.execute(text("INSERT INTO dead_letters (source, record_id, reason)"
                                      " VALUES ('backfill', :id, :reason)"),
                                 {"id": str(order_row.get("id")), "reason": str(exc)})  # fmt: skip
                    continue
                if orders.store.load_stored(snapshot.order_id):
                    skipped += 1  # imported before, or the service's own order
                    continue
                try:
                    orders.save(None, [OrderImported(snapshot, datetime.now(UTC))],
                                {"source": "backfill"}, sync=False)  # fmt: skip
                    imported += 1
                except ConcurrencyConflict:
                    skipped += 1
            after = int(batch[-1][0]["id"])
            conn.execute(
                text("UPDATE backfill_checkpoints SET last_legacy_id = :after, rows_done ="
                     " :done, rows_failed = :failed, updated_at = now() WHERE name = :n"),
                {"after": after, "done": imported + skipped, "failed": failed, "n": CHECKPOINT},
            )  # fmt: skip
        if on_progress is not None:
            on_progress(len(batch))
    with engine.begin() as conn:
        conn.execute(text("UPDATE backfill_checkpoints SET finished_at = now() WHERE name = :n"),
                     {"n": CHECKPOINT})  # fmt: skip
        # After a rollback the monolith numbered orders past the service's (the reverse sync
        # lifted its sequence): new orders here must start above every imported one.
        conn.execute(text(
            "SELECT setval('order_legacy_id_seq', m) FROM (SELECT max(order_id) AS m"
            " FROM order_events) AS s WHERE m >= (SELECT last_value FROM order_legacy_id_seq)"
        ))  # fmt: skip
    return BackfillReport(imported, skipped, failed, time.perf_counter() - start, resumed)
