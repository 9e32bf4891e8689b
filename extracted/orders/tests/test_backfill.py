"""The backfill imports the monolith's orders once (idempotent, resumable, no echo)."""

from __future__ import annotations

import psycopg
from orders_service.adapters.read_model import OrderReads
from orders_service.service_layer.backfill import LegacySource, run_backfill
from sqlalchemy import Engine, text
from strangler.testing.databases import ScratchDatabases

LEGACY_DDL = """
CREATE TABLE shop_order (id serial PRIMARY KEY, user_id integer NULL, email varchar(254),
  status varchar(20), total numeric(10,2), cur varchar(3), ship_name varchar(200),
  ship_line1 varchar(200), ship_line2 varchar(200), ship_city varchar(100),
  ship_zip varchar(20), ship_country varchar(2), created timestamptz, updated timestamptz);
CREATE TABLE shop_orderline (id serial PRIMARY KEY, order_id integer, product_id integer,
  sku varchar(32), name varchar(200), unit_price numeric(10,2), qty integer);
CREATE TABLE shop_payment (id serial PRIMARY KEY, order_id integer, amount numeric(10,2),
  cur varchar(3), status varchar(20), gateway_ref varchar(64), decline_code varchar(32),
  card_last4 varchar(4), idempotency_key varchar(64), created timestamptz);
INSERT INTO shop_order VALUES
  (1, 42, 'a@x.de', 'paid', 25.00, 'EUR', 'A', 'L1', '', 'C', 'Z', 'DE', now(), now()),
  (2, NULL, 'g@x.de', 'cancelled', 7.25, 'EUR', 'G', 'L1', '', 'C', 'Z', 'DE', now(), now()),
  (3, 42, 'a@x.de', 'lost', 1.00, 'EUR', 'A', 'L1', '', 'C', 'Z', 'DE', now(), now());
INSERT INTO shop_orderline VALUES (1, 1, 1, 'SKU-1', 'Mug', 12.50, 2),
  (2, 2, 2, 'SKU-2', 'Plate', 7.25, 1);
INSERT INTO shop_payment VALUES
  (1, 1, 25.00, 'EUR', 'captured', 'SIM-A', '', '4242', 'k1', now()),
  (2, 2, 7.25, 'EUR', 'declined', 'SIM-B', 'card_declined', '0002', 'k2', now());
"""


def test_backfill_imports_once_without_echo(
    clean: Engine, scratch_databases: ScratchDatabases
) -> None:
    legacy = scratch_databases.create("orders_legacy")
    with psycopg.connect(legacy, autocommit=True) as conn:
        conn.execute(LEGACY_DDL)
    for expected in [(2, 0, 1), (0, 2, 1)]:  # the second run finds the streams
        source = LegacySource(legacy)
        try:
            report = run_backfill(clean, source, batch_size=2, restart=True)
        finally:
            source.close()
        assert (report.imported, report.skipped, report.failed) == expected
    reads = OrderReads(clean)
    paid = reads.get(1)
    assert paid is not None
    assert (paid.status, paid.total_minor, paid.user_id) == ("paid", 2500, 42)
    cancelled = reads.get(2)
    assert cancelled is not None
    assert [p.decline_code for p in cancelled.payments] == ["card_declined"]
    with clean.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one() == 2


def test_orders_the_monolith_numbered_after_a_rollback_push_the_service_ids_up(
    clean: Engine, scratch_databases: ScratchDatabases
) -> None:
    """After a rollback the monolith's sequence was lifted past the service's ids (by the
    reverse sync) and it placed orders there; importing them moves the service above."""
    legacy = scratch_databases.create("orders_legacy")
    with psycopg.connect(legacy, autocommit=True) as conn:
        conn.execute(LEGACY_DDL)
        conn.execute("UPDATE shop_order SET id = 1000000005 WHERE id = 1")
        conn.execute("UPDATE shop_orderline SET order_id = 1000000005 WHERE order_id = 1")
        conn.execute("UPDATE shop_payment SET order_id = 1000000005 WHERE order_id = 1")
    source = LegacySource(legacy)
    try:
        run_backfill(clean, source, restart=True)
    finally:
        source.close()
    with clean.connect() as conn:
        next_id = conn.execute(text("SELECT nextval('order_legacy_id_seq')")).scalar_one()
    assert next_id == 1000000006
