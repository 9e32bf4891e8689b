"""Apply a catalog service event to ``shop_product``, in the inbox's transaction.

Called by ``outbox.Consumer`` (inbox dedupe, per-stream version check, parking) with a
cursor on its own connection. Through the ACL's reverse translator (domain -> legacy row),
never through the catalog services: those refuse while the freeze is on, and this is the
path by which the owner's changes arrive.

Ordering across both sides: one version lineage per product (see the catalog service's
``service_layer/writes.py``). Here the outbox's per-aggregate counter is that lineage: an
event older than it is skipped, an equal one wins (the service's state on a tie), and
applying lifts the counter so the monolith's next own event continues above it. Locks are
taken product row first, counter second, as every monolith writer takes them.

No echo: the transaction is marked ``sync:catalog`` and the monolith's writer suppresses
that origin (``OutboxConfig.ready``). The apply even asks the writer to record, like any
write to the row does; it records nothing and counts the suppressed echo.
"""

from __future__ import annotations

import logging
from typing import Any

from acl.catalog import events as acl_events
from acl.catalog.quirks import AttrsPolicy
from acl.catalog.rows import product_to_row

from outbox import Envelope, mark_transaction_origin
from shop.outbox.context import SYNC_ORIGIN
from shop.outbox.events import PRODUCT_COLUMNS, product_event, record_on

log = logging.getLogger(__name__)

CONSUMER = "shop.catalog-sync"
_UPDATABLE = [c for c in PRODUCT_COLUMNS if c not in ("id", "qty")]  # stock is ours
_UPSERT = (
    f"INSERT INTO shop_product ({', '.join(PRODUCT_COLUMNS)})"  # noqa: S608 (constant SQL)
    f" VALUES ({', '.join(['%s'] * len(PRODUCT_COLUMNS))})"
    f" ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _UPDATABLE)}"
)


class UnexpectedEvent(ValueError):
    """The service sends product snapshots only in this step; anything else is parked."""


def decode(envelope: Envelope) -> acl_events.ProductSnapshot:
    """The product snapshot an event carries, or why it cannot be applied here.

    Separate from :func:`apply` so the message pact (``shop-sync`` against the service's
    events) checks exactly this decoding without a database.
    """
    event = acl_events.decode_outbox_message(envelope, attrs_policy=AttrsPolicy.LEGACY)
    if not isinstance(event, acl_events.ProductSnapshot):
        raise UnexpectedEvent(f"{event.meta.event_type} is not applied from the catalog service")
    return event


def apply(cursor: Any, envelope: Envelope) -> None:
    mark_transaction_origin(cursor, SYNC_ORIGIN)
    event = decode(envelope)
    version = event.meta.version
    row = dict(product_to_row(event.product))
    product_id = str(row["id"])
    cursor.execute("SELECT qty FROM shop_product WHERE id = %s FOR UPDATE", (row["id"],))
    existing = cursor.fetchone()
    cursor.execute(
        "SELECT version FROM outbox_aggregate_version"
        " WHERE aggregate_type = %s AND aggregate_id = %s FOR UPDATE",
        (acl_events.PRODUCT_AGGREGATE, product_id),
    )
    counter = cursor.fetchone()
    if counter is not None and version < counter[0]:
        log.info("product %s: v%s older than ours (v%s), skipped", product_id, version, counter[0])
        return
    if existing is not None:
        row["qty"] = existing[0]
    cursor.execute(_UPSERT, [row[c] for c in PRODUCT_COLUMNS])
    cursor.execute(
        "INSERT INTO outbox_aggregate_version AS c (aggregate_type, aggregate_id, version)"
        " VALUES (%s, %s, %s) ON CONFLICT (aggregate_type, aggregate_id)"
        " DO UPDATE SET version = GREATEST(c.version, excluded.version)",
        (acl_events.PRODUCT_AGGREGATE, product_id, version),
    )
    record_on(cursor, [product_event(row, changed=list(event.changed), headers={})])
