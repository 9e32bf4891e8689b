"""Moving checkout (order writes) between the monolith and the orders service (step 5).

The monolith keeps a one-row table ``orders_write_freeze``; its checkout and order status
changes read it under a share lock in their own transaction, so freezing waits for the
checkouts in flight. The orders service has no flag of its own: the facade decides who
gets checkouts, and the service's orders reach the monolith by the reverse sync anyway.

``switch(to="service")``: freeze the monolith's checkout (its API answers 423, its
storefront hands the form to the service through the facade), then import the order
history into the orders service (``orders-service backfill``, idempotent), which now sees
every order the monolith will ever write. ``switch(to="monolith")`` (the rollback): wait
until every order event of the service is published and applied by the monolith's
``shop.orders-sync`` consumer, then open the monolith's checkout again. Its ids cannot
collide: the service numbers orders from 1,000,000,000 and the reverse sync lifts the
monolith's sequence past every order it applies.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import psycopg

from strangler.ownership import Databases, Lag, Side, SwitchFailed, drain

CONSUMER = "shop.orders-sync"


def set_frozen(dsn: str, frozen: bool) -> None:
    """Flip the monolith's checkout flag; waits for the checkouts in flight (share lock)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET LOCAL lock_timeout = '30s'")
        conn.execute("UPDATE orders_write_freeze SET frozen = %s, changed_at = now()", (frozen,))


def owner(dbs: Databases) -> Side:
    with psycopg.connect(dbs.monolith) as conn:
        row = conn.execute("SELECT frozen FROM orders_write_freeze").fetchone()
    return "service" if row is None or row[0] else "monolith"


def backfill(dbs: Databases) -> None:
    """Import the monolith's orders into the orders service (idempotent, resumable)."""
    command = [
        sys.executable, "-m", "orders_service", "backfill",
        "--legacy-dsn", dbs.monolith, "--database-url", dbs.service,
    ]  # fmt: skip
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise SwitchFailed(f"the orders backfill failed with exit code {result.returncode}")


def switch(
    dbs: Databases,
    to: Side,
    *,
    timeout: float = 60.0,
    progress: Callable[[Lag], None] | None = None,
    import_history: Callable[[Databases], None] = backfill,
) -> Lag:
    """Make ``to`` the side that takes checkouts; see the module docstring."""
    if to == "service":
        was = owner(dbs)
        set_frozen(dbs.monolith, True)
        try:
            import_history(dbs)
        except BaseException:
            if was == "monolith":
                set_frozen(dbs.monolith, False)
            raise
        return Lag()
    final = drain(dbs, "service", consumer=CONSUMER, timeout=timeout, progress=progress)
    set_frozen(dbs.monolith, False)
    return final
