"""Read-only legacy tables (``strangler.retire``) on a real PostgreSQL: refused writes with a
message that says where they go, the reverse sync's origin let through, idempotent both
ways, and the stock column the monolith still writes."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from outbox.writer import ORIGIN_SETTING, mark_transaction_origin
from strangler.retire import (
    ORIGIN_SETTING as GUARD_SETTING,
)
from strangler.retire import (
    Protection,
    RetiredTable,
    make_read_only,
    make_writable,
    status,
)
from strangler.testing.databases import scratch_database

LEGACY_DDL = """
CREATE TABLE shop_order (id serial PRIMARY KEY, status varchar(20) NOT NULL);
CREATE TABLE shop_orderline (id serial PRIMARY KEY, order_id integer NOT NULL
    REFERENCES shop_order (id), qty integer NOT NULL);
CREATE TABLE shop_product (id serial PRIMARY KEY, nm varchar(200) NOT NULL,
    prc numeric(10, 2) NOT NULL, qty integer NOT NULL DEFAULT 0,
    updated timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop_cart (id serial PRIMARY KEY, note text NOT NULL DEFAULT '');
INSERT INTO shop_order (status) VALUES ('new'), ('paid');
INSERT INTO shop_orderline (order_id, qty) VALUES (1, 2);
INSERT INTO shop_product (nm, prc, qty) VALUES ('Red Mug', 12.50, 7);
"""
ORDERS = ["shop_order", "shop_orderline"]
PRODUCT = RetiredTable("shop_product", ("qty", "updated"))


@pytest.fixture
def dsn() -> Iterator[str]:
    with scratch_database("retire_test") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(LEGACY_DDL)
        yield url


def write(dsn: str, statement: str, *, origin: str | None = None) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        if origin is not None:
            mark_transaction_origin(cur, origin)
        cur.execute(statement)


def refusal(dsn: str, statement: str, *, origin: str | None = None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        write(dsn, statement, origin=origin)
    return caught.value


def test_the_guard_reads_the_setting_the_outbox_library_writes() -> None:
    assert GUARD_SETTING == ORIGIN_SETTING


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO shop_order (status) VALUES ('new')",
        "UPDATE shop_order SET status = 'shipped' WHERE id = 2",
        "DELETE FROM shop_orderline",
        "TRUNCATE shop_orderline",
    ],
)
def test_a_write_to_a_retired_table_is_refused_with_its_new_home(dsn: str, statement: str) -> None:
    make_read_only(dsn, ORDERS, ["sync:orders"], owner="the orders service")
    error = refusal(dsn, statement)
    assert isinstance(error, psycopg.errors.ReadOnlySqlTransaction)
    table = "shop_order" if "shop_order " in statement + " " else "shop_orderline"
    assert (
        f"table {table} is retired (read-only since step 6); writes go to the orders service"
        in str(error)
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, status FROM shop_order ORDER BY id").fetchall()
        lines = conn.execute("SELECT count(*) FROM shop_orderline").fetchone()
    assert rows == [(1, "new"), (2, "paid")]
    assert lines == (1,)


def test_the_reverse_sync_still_writes(dsn: str) -> None:
    make_read_only(dsn, ORDERS, ["sync:orders"], owner="the orders service")
    write(
        dsn, "INSERT INTO shop_order (id, status) VALUES (1000000000, 'paid')", origin="sync:orders"
    )
    write(dsn, "UPDATE shop_order SET status = 'shipped' WHERE id = 2", origin="sync:orders")
    write(dsn, "DELETE FROM shop_orderline WHERE order_id = 1", origin="sync:orders")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, status FROM shop_order ORDER BY id").fetchall()
    assert rows == [(1, "new"), (2, "shipped"), (1000000000, "paid")]
    # Another origin (the catalog's sync) is no more welcome than none.
    refusal(dsn, "UPDATE shop_order SET status = 'new' WHERE id = 2", origin="sync:catalog")
    # The mark ends with its transaction: the next one is refused again.
    refusal(dsn, "UPDATE shop_order SET status = 'new' WHERE id = 2")


def test_stock_stays_writable_on_a_retired_product_table(dsn: str) -> None:
    make_read_only(dsn, [PRODUCT], ["sync:catalog"], owner="the catalog service")
    write(dsn, "UPDATE shop_product SET qty = qty - 2, updated = now() WHERE id = 1")
    error = refusal(dsn, "UPDATE shop_product SET prc = 1, qty = qty - 1 WHERE id = 1")
    assert "table shop_product is retired" in str(error)
    assert "the catalog service" in str(error)
    assert "only qty, updated may still change here" in str(error.diag.message_hint)
    refusal(dsn, "INSERT INTO shop_product (nm, prc) VALUES ('x', 1)")
    write(dsn, "UPDATE shop_product SET prc = 9.99 WHERE id = 1", origin="sync:catalog")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT prc::text, qty FROM shop_product").fetchone() == ("9.99", 5)


def test_idempotent_both_ways_and_status_reads_the_guards_back(dsn: str) -> None:
    assert status(dsn) == []
    for _ in range(2):
        assert make_read_only(dsn, ORDERS, ["sync:orders"], owner="the orders service") == ORDERS
    make_read_only(dsn, [PRODUCT], ["sync:catalog"], owner="the catalog service")
    # Guarding again replaces the arguments (one trigger per table and kind, not two).
    make_read_only(dsn, ["shop_order"], ["sync:orders", "sync:repair"], owner="orders v2")
    assert status(dsn) == [
        Protection("shop_order", "orders v2", ("sync:orders", "sync:repair"), "step 6", (), True),
        Protection("shop_orderline", "the orders service", ("sync:orders",), "step 6", (), True),
        Protection("shop_product", "the catalog service", ("sync:catalog",), "step 6",
                   ("qty", "updated"), True),
    ]  # fmt: skip
    with psycopg.connect(dsn) as conn:
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'strangler_retired_%'"
        ).fetchone()
    assert triggers == (6,)
    assert make_writable(dsn, ORDERS) == ORDERS
    assert make_writable(dsn, ORDERS) == []  # nothing left to undo
    write(dsn, "UPDATE shop_order SET status = 'shipped' WHERE id = 2")
    write(dsn, "TRUNCATE shop_orderline")
    assert [p.table for p in status(dsn)] == ["shop_product"]


def test_an_unknown_table_or_column_guards_nothing(dsn: str) -> None:
    with pytest.raises(ValueError, match="table shop_nope does not exist"):
        make_read_only(dsn, ["shop_order", "shop_nope"], ["sync:orders"], owner="x")
    with pytest.raises(ValueError, match="has no column"):
        make_read_only(dsn, [RetiredTable("shop_product", ("stock",))], [], owner="x")
    assert status(dsn) == []
    write(dsn, "UPDATE shop_order SET status = 'shipped' WHERE id = 2")


def test_a_table_that_is_dropped_takes_its_guard_with_it(dsn: str) -> None:
    make_read_only(dsn, ORDERS, ["sync:orders"], owner="the orders service")
    write(dsn, "DROP TABLE shop_orderline")  # the final migration
    assert [p.table for p in status(dsn)] == ["shop_order"]
    write(dsn, "DROP TABLE shop_order")
    assert status(dsn) == []
    write(dsn, "INSERT INTO shop_cart (note) VALUES ('other tables never noticed')")
