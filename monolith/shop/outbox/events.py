"""Catalog and inventory events, recorded in the transaction that makes the change.

The service functions call these right after their write, inside their
``transaction.atomic`` block: the rows are read back in that transaction (our own UPDATE
holds their locks, so what we read is exactly the state we committed) and written to the
outbox with the library's ``record_event`` / ``record_events`` (one statement for a bulk
path). Payloads are the ACL's full-row snapshots (``acl.catalog.events``).

The seed command (``seed_shop``, COPY) is exempt: it fills an empty shop, and the catalog
service gets that state from its backfill, whose version is 0 for rows without events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from acl.catalog import events as acl_events
from django.db import connection

from outbox import NewEvent, record_event, record_events
from shop.outbox.context import event_headers

PRODUCT_COLUMNS = (
    "id", "sku", "nm", "descr", "cat_id", "prc", "cur", "st", "qty", "attrs", "wt", "created",
    "updated",
)  # fmt: skip
CATEGORY_COLUMNS = ("id", "name", "slug", "parent_id", "sort_order")

_PRODUCT_SQL = (
    f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM shop_product WHERE id = ANY(%s) ORDER BY id"  # noqa: S608 (constant SQL)
)
_CATEGORY_SQL = (
    f"SELECT {', '.join(CATEGORY_COLUMNS)} FROM shop_category WHERE id = ANY(%s) ORDER BY id"  # noqa: S608 (constant SQL)
)


def _in_transaction() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("outbox events must be written inside the change's transaction")


def _rows(cur: Any, sql: str, columns: Sequence[str], ids: Iterable[int]) -> list[dict[str, Any]]:
    cur.execute(sql, [sorted(set(ids))])
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def product_rows(ids: Iterable[int]) -> list[dict[str, Any]]:
    with connection.cursor() as cur:
        return _rows(cur, _PRODUCT_SQL, PRODUCT_COLUMNS, ids)


def category_rows(ids: Iterable[int]) -> list[dict[str, Any]]:
    with connection.cursor() as cur:
        return _rows(cur, _CATEGORY_SQL, CATEGORY_COLUMNS, ids)


def _record(cur: Any, events: list[NewEvent]) -> int:
    if len(events) == 1:
        e = events[0]
        record_event(
            cur,
            aggregate_type=e.aggregate_type,
            aggregate_id=e.aggregate_id,
            event_type=e.event_type,
            payload=e.payload,
            headers=e.headers,
            event_id=e.event_id,
        )
        return 1
    return record_events(cur, events) if events else 0


RETURNING_PRODUCT = "RETURNING " + ", ".join(PRODUCT_COLUMNS)


def as_product_rows(fetched: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows of an ``UPDATE shop_product ... {RETURNING_PRODUCT}`` as dicts."""
    return [dict(zip(PRODUCT_COLUMNS, row, strict=True)) for row in fetched]


def products_changed(
    ids: Iterable[int] = (),
    *,
    rows: list[dict[str, Any]] | None = None,
    changed: Sequence[str] = PRODUCT_COLUMNS,
    stock: bool = False,
) -> int:
    """``catalog.product.upserted.v1`` (or ``stock_changed.v1``) for each product in ``ids``
    (read back here) or ``rows`` (already read back by the caller's ``UPDATE ... RETURNING``).
    """
    _in_transaction()
    event_type = (
        acl_events.EventType.PRODUCT_STOCK_CHANGED
        if stock
        else acl_events.EventType.PRODUCT_UPSERTED
    )
    headers = event_headers()
    with connection.cursor() as cur:
        if rows is None:
            rows = _rows(cur, _PRODUCT_SQL, PRODUCT_COLUMNS, ids)
        return _record(
            cur,
            [
                product_event(
                    row,
                    changed=["qty"] if stock else changed,
                    event_type=event_type,
                    headers=headers,
                )
                for row in rows
            ],
        )


def product_event(
    row: dict[str, Any],
    *,
    changed: Sequence[str],
    headers: dict[str, str],
    event_type: str = acl_events.EventType.PRODUCT_UPSERTED,
) -> NewEvent:
    return NewEvent(
        aggregate_type=acl_events.PRODUCT_AGGREGATE,
        aggregate_id=str(row["id"]),
        event_type=str(event_type),
        payload={
            "row": acl_events.product_row_payload(row),  # type: ignore[arg-type]
            "changed": list(changed),
        },
        headers=headers,
    )


def record_on(cur: Any, events: list[NewEvent]) -> int:
    """Record on a cursor of the caller's own connection (the sync consumer's)."""
    return _record(cur, events)


def categories_changed(ids: Iterable[int]) -> int:
    """``catalog.category.upserted.v1`` for each category in ``ids``."""
    _in_transaction()
    headers = event_headers()
    with connection.cursor() as cur:
        rows = _rows(cur, _CATEGORY_SQL, CATEGORY_COLUMNS, ids)
        return _record(
            cur,
            [
                NewEvent(
                    aggregate_type=acl_events.CATEGORY_AGGREGATE,
                    aggregate_id=str(row["id"]),
                    event_type=str(acl_events.EventType.CATEGORY_UPSERTED),
                    payload={"row": acl_events.category_row_payload(row)},  # type: ignore[arg-type]
                    headers=headers,
                )
                for row in rows
            ],
        )
