from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from acl.catalog.rows import product_from_row
from catalog_service.adapters.repository import ProductRepository
from catalog_service.adapters.tables import backfill_checkpoints, dead_letters, products
from catalog_service.service_layer.backfill import LegacySource, run_backfill
from sqlalchemy import Engine, func, select

INSERT = (
    "INSERT INTO shop_product (sku, nm, descr, cat_id, prc, cur, st, qty, attrs, wt, created,"
    " updated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def seed(legacy: psycopg.Connection, n: int = 250) -> None:
    legacy.execute("INSERT INTO shop_category (name, slug, parent_id, sort_order) VALUES"
                   " ('Kitchen', 'kitchen', NULL, 0), ('Cups', 'cups', 1, 0)")  # fmt: skip
    rows: list[tuple[Any, ...]] = []
    for i in range(1, n + 1):
        rows.append((
            f"SKU-{i:06d}", f"Product {i}", "", 2 if i % 2 else None, Decimal(i) / 4,
            "EUR", "A", i % 5, "color=red; size = large box ;", i if i % 3 else None,
            datetime(2024, 5, 1, 10, 0, 0, i), datetime(2024, 10, 27, 2, 30),
        ))  # fmt: skip
    with legacy.cursor() as cur:
        cur.executemany(INSERT, rows)
        # the quirks: lower-case / padded SKU, lower-case currency, a wall-clock time in
        # the DST gap (timestamptz stores it shifted, as Django's connection would), and a
        # refusal: malformed attributes
        cur.execute(
            INSERT,
            (
                " sku-old ",
                "Old",
                "d",
                None,
                Decimal("1.10"),
                "eur",
                "H",
                0,
                "",
                None,
                datetime(2010, 1, 1),
                datetime(2010, 1, 1),
            ),
        )
        cur.execute(
            INSERT,
            (
                "BROKEN-ATTRS",
                "x",
                "",
                None,
                Decimal("1.00"),
                "EUR",
                "A",
                1,
                "colour",
                None,
                datetime(2020, 1, 1),
                datetime(2020, 1, 1),
            ),
        )
        cur.execute(
            INSERT,
            (
                "IN-THE-GAP",
                "x",
                "",
                None,
                Decimal("1.00"),
                "EUR",
                "A",
                1,
                "",
                None,
                datetime(2024, 3, 31, 2, 30),
                datetime(2024, 3, 31, 4),
            ),
        )


class Crash(Exception):
    pass


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def source(legacy: psycopg.Connection, legacy_url: str) -> Iterator[LegacySource]:
    seed(legacy)
    src = LegacySource(legacy_url)
    yield src
    src.close()


def test_backfill_copies_through_the_acl(clean: Engine, source: LegacySource,
                                         legacy: psycopg.Connection) -> None:  # fmt: skip
    report = run_backfill(clean, source, batch_size=64, source_position="outbox:42")
    assert (report.products, report.categories, report.failed) == (252, 2, 1)
    assert count(clean, products) == 252
    with clean.connect() as conn:
        repo = ProductRepository(conn)
        for row in legacy.execute("SELECT * FROM shop_product WHERE id IN (1, 2, 251)").fetchall():
            names = ["id", "sku", "nm", "descr", "cat_id", "prc", "cur", "st", "qty", "attrs",
                     "wt", "created", "updated"]  # fmt: skip
            legacy_row = dict(zip(names, row, strict=True))
            assert repo.get(legacy_row["id"]) == product_from_row(legacy_row)
        old = repo.get(251)
        assert old is not None
        assert old.sku == "SKU-OLD"
        assert old.legacy_sku == " sku-old "
        assert old.legacy_currency == "eur"
        reasons = conn.execute(select(dead_letters.c.aggregate_id, dead_letters.c.reason)).all()
        assert {r.aggregate_id for r in reasons} == {"252"}
        assert "malformed" in reasons[0].reason
        checkpoint = conn.execute(select(backfill_checkpoints)).one()
        assert checkpoint.source_position == "outbox:42"
        assert checkpoint.finished_at is not None
        assert checkpoint.rows_done == 252
        first = repo.get(1)
        assert first is not None
        assert first.created_at == datetime(2024, 5, 1, 8, 0, 0, 1, tzinfo=UTC)


def test_backfill_resumes_after_a_crash_and_is_idempotent(
    clean: Engine, source: LegacySource
) -> None:
    batches = 0

    def crash_after_two(rows: int, written: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise Crash  # like a kill between batches

    with pytest.raises(Crash):
        run_backfill(clean, source, batch_size=50, on_progress=crash_after_two)
    assert count(clean, products) == 100
    resumed = run_backfill(clean, source, batch_size=50)
    assert resumed.resumed_from == 100
    assert resumed.products == 152
    assert count(clean, products) == 252
    again = run_backfill(clean, source, batch_size=50)  # finished: a rerun starts over
    assert again.resumed_from == 0
    assert again.products == 252
    assert count(clean, products) == 252
    assert count(clean, dead_letters) == 2  # one refusal, reported by each full pass
