"""The writer: versions, origin markers and echo suppression, DDL, DB-API cursors."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from outbox_testlib import query

from outbox import schema, writer
from outbox.writer import NewEvent, mark_transaction_origin, record_event, record_events


def test_versions_are_gapless_per_aggregate_under_concurrent_writers(dsn: str) -> None:
    writers, per_writer = 8, 40
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with psycopg.connect(dsn) as conn:
                barrier.wait()
                for i in range(per_writer):
                    with conn.transaction():
                        cur = conn.cursor()
                        record_event(cur, aggregate_type="product", aggregate_id="hot",
                                     event_type="PriceChanged", payload={"w": n, "i": i})  # fmt: skip
                        record_event(cur, aggregate_type="product", aggregate_id=f"own-{n}",
                                     event_type="PriceChanged", payload={"i": i})  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    hot = [
        r[0]
        for r in query(
            dsn, "SELECT version FROM outbox WHERE aggregate_id = 'hot' ORDER BY version"
        )
    ]
    assert hot == list(range(1, writers * per_writer + 1))
    # Commit order of one aggregate is version order: txids may not be, versions must be.
    own = query(dsn, "SELECT aggregate_id, array_agg(version ORDER BY id) FROM outbox "
                     "WHERE aggregate_id LIKE 'own-%' GROUP BY 1")  # fmt: skip
    assert all(v == list(range(1, per_writer + 1)) for _, v in own)


def test_record_event_returns_version_and_stamps_headers(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        cur = conn.cursor()
        eid = uuid.uuid4()
        first = record_event(cur, aggregate_type="product", aggregate_id=7, event_type="Created",
                             payload={"sku": "A"}, headers={"traceparent": "00-abc-def-01",
                             "causation_id": "c1"}, event_id=eid)  # fmt: skip
        second = record_event(cur, aggregate_type="product", aggregate_id=7, event_type="Renamed",
                              payload={"name": "B"}, origin="monolith")  # fmt: skip
    assert first is not None and second is not None
    assert (first.event_id, first.version, first.origin) == (eid, 1, None)
    assert (second.version, second.origin) == (2, "monolith")
    rows = query(dsn, "SELECT headers, txid::text FROM outbox ORDER BY id")
    assert rows[0][0] == {"traceparent": "00-abc-def-01", "causation_id": "c1",
                          "content_type": "application/json", "schema_version": 1}  # fmt: skip
    assert rows[1][0]["origin"] == "monolith"
    assert rows[0][1] == rows[1][1]  # one transaction, one xid8


def test_rolled_back_event_leaves_no_gap(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            record_event(
                conn.cursor(), aggregate_type="p", aggregate_id="1", event_type="E", payload={}
            )
        with pytest.raises(RuntimeError), conn.transaction():
            record_event(
                conn.cursor(), aggregate_type="p", aggregate_id="1", event_type="E", payload={}
            )
            raise RuntimeError("business rule failed")
        with conn.transaction():
            again = record_event(
                conn.cursor(), aggregate_type="p", aggregate_id="1", event_type="E", payload={}
            )
    assert again is not None and again.version == 2


def test_origin_marker_is_recorded_and_a_suppressed_origin_is_not_echoed(dsn: str) -> None:
    old = writer.configure(suppress_origins=["sync:catalog"], default_origin="monolith")
    try:
        with psycopg.connect(dsn) as conn:
            # A normal change: recorded with the default origin.
            with conn.transaction():
                own = record_event(conn.cursor(), aggregate_type="product", aggregate_id="1",
                                   event_type="PriceChanged", payload={"p": 1})  # fmt: skip
            # The sync consumer applying the catalog's change: marked, so not echoed back.
            with conn.transaction():
                cur = conn.cursor()
                mark_transaction_origin(cur, "sync:catalog")
                echo = record_event(cur, aggregate_type="product", aggregate_id="1",
                                    event_type="PriceChanged", payload={"p": 2})  # fmt: skip
                bulk = record_events(cur, [NewEvent("product", "1", "PriceChanged", {"p": 3})])
            # The mark is SET LOCAL: the next transaction records again.
            with conn.transaction():
                after = record_event(conn.cursor(), aggregate_type="product", aggregate_id="1",
                                     event_type="PriceChanged", payload={"p": 4})  # fmt: skip
            # A marked origin that is not suppressed is recorded, with the origin.
            with conn.transaction():
                cur = conn.cursor()
                mark_transaction_origin(cur, "sync:orders")
                other = record_event(cur, aggregate_type="product", aggregate_id="1",
                                     event_type="PriceChanged", payload={"p": 5})  # fmt: skip
    finally:
        writer.configure(table_prefix=old.table_prefix, suppress_origins=old.suppress_origins,
                         default_origin=old.default_origin)  # fmt: skip
    assert echo is None and bulk == 0
    assert own is not None and own.origin == "monolith" and own.version == 1
    assert after is not None and after.version == 2  # the suppressed write used no version
    assert other is not None and other.origin == "sync:orders" and other.version == 3
    assert [r[0] for r in query(dsn, "SELECT payload->>'p' FROM outbox ORDER BY id")] == [
        "1",
        "4",
        "5",
    ]


def test_bulk_path_assigns_versions_in_input_order(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        record_event(
            conn.cursor(), aggregate_type="p", aggregate_id="a", event_type="E", payload={"n": 0}
        )
        events = [NewEvent("p", "ab"[i % 2], "E", {"n": i + 1}) for i in range(6)]
        assert record_events(conn.cursor(), events) == 6
    rows = query(dsn, "SELECT aggregate_id, version, (payload->>'n')::int FROM outbox ORDER BY id")
    assert rows == [
        ("a", 1, 0),
        ("a", 2, 1),
        ("b", 1, 2),
        ("a", 3, 3),
        ("b", 2, 4),
        ("a", 4, 5),
        ("b", 3, 6),
    ]


def test_works_through_a_client_side_binding_cursor_like_djangos(dsn: str) -> None:
    # Django's psycopg 3 backend uses ClientCursor (client-side parameter binding).
    with psycopg.connect(dsn) as conn:
        cur = psycopg.ClientCursor(conn)
        mark_transaction_origin(cur, "sync:x")
        recorded = record_event(cur, aggregate_type="p", aggregate_id="1", event_type="E",
                                payload={"quote": "it's 100%"}, suppress_origins=[])  # fmt: skip
        assert (
            record_events(cur, [NewEvent("p", "1", "E", {"n": 1})], suppress_origins=["sync:y"])
            == 1
        )
    assert recorded is not None and recorded.origin == "sync:x"
    assert query(dsn, "SELECT payload->>'quote' FROM outbox ORDER BY id LIMIT 1") == [
        ("it's 100%",)
    ]


def test_ddl_is_idempotent_and_prefixable(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(schema.ddl().encode())  # again: harmless
        conn.execute(schema.ddl("svc_", channel="svc_events").encode())
        record_event(conn.cursor(), aggregate_type="p", aggregate_id="1", event_type="E",
                     payload={}, table_prefix="svc_")  # fmt: skip
        conn.execute(schema.drop_ddl("svc_").encode())
    assert query(dsn, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'svc_%'") == [(0,)]
    with pytest.raises(ValueError, match="table_prefix"):
        schema.ddl("bad; DROP TABLE x")
