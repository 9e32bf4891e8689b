"""Who may write orders: the checkout freeze of step 5.

A one-row table (``orders_write_freeze``), not a setting: ``strangler ownership switch``
flips it in the running system, without a restart or a deploy, and the flip is
transactional with the writes. Every order write (checkout, a status change) reads the
flag under a share lock in its own transaction, so the switch's ``UPDATE`` waits for the
writes in flight to commit and no write passes once it has committed: from then on the
orders service places and changes orders, and the monolith's tables follow by reverse
sync (``shop.sync.orders``).

Not frozen: stock, carts and the participant endpoints (``shop.participants``), which the
orders service's checkout saga calls; and the reverse sync itself, which writes the rows
the owner sends and never goes through these services.
"""

from __future__ import annotations

from django.db import connection

from shop.core.errors import CheckoutMoved


def ensure_orders_writable() -> None:
    """Raise ``CheckoutMoved`` while frozen; call inside the write's transaction."""
    with connection.cursor() as cur:
        cur.execute("SELECT frozen FROM orders_write_freeze FOR SHARE")
        row = cur.fetchone()
    if row is None or row[0]:
        raise CheckoutMoved()


def orders_writes_frozen() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT frozen FROM orders_write_freeze")
        row = cur.fetchone()
    return row is None or bool(row[0])
