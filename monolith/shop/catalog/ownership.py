"""Who may write catalog products: the write freeze of step 4.

A one-row table (``catalog_write_freeze``), not a setting: ``strangler ownership switch``
flips it in the running system, without a restart or a deploy, and the flip is
transactional with the writes. Every catalog write reads the flag under a share lock in
its own transaction, so the switch's ``UPDATE`` waits for the writes in flight to commit
(their outbox rows with them) and no write passes once it has committed: the drain that
follows sees every event the monolith will ever record for the frozen period.

Stock (inventory) and categories are not frozen: they stay the monolith's in step 4.
"""

from __future__ import annotations

from django.db import connection

from shop.core.errors import CatalogWritesMoved


def ensure_catalog_writable() -> None:
    """Raise ``CatalogWritesMoved`` while frozen; call inside the write's transaction."""
    with connection.cursor() as cur:
        cur.execute("SELECT frozen FROM catalog_write_freeze FOR SHARE")
        row = cur.fetchone()
    if row is None or row[0]:
        raise CatalogWritesMoved()


def catalog_writes_frozen() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT frozen FROM catalog_write_freeze")
        row = cur.fetchone()
    return row is None or bool(row[0])
