"""The orders-service events pact, verified against the service's real outbox writer.

The state places a customer's order through the service's checkout saga (the real
monolith as participant, as in ``test_orders_api_providers``): every change it records
writes its ``orders.order.changed.v1`` outbox row in the same transaction
(``OrderRepository.save`` with ``acl.orders.legacy.order_to_sync_payload``). The producer
reads the newest outbox row back with the relay's columns and turns it into exactly what
the relay publishes: ``outbox.relay._envelope(row)``. Celery and the broker stay out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from contracts.orders_states import state_handlers, wipe
from contracts.paths import PACTS_DIR
from contracts.verification import verify_messages
from orders_service.settings import psycopg_url
from outbox.relay import _envelope as relay_envelope
from outbox.schema import Tables

PACT = PACTS_DIR / "shop-sync-orders-service.json"
PAID = "an orders.order.changed.v1 event for an order the service placed and was paid"
OUTBOX = Tables("").outbox
_LATEST = (
    f"SELECT id, event_id, aggregate_type, aggregate_id, version, event_type, payload, headers,"
    f" created_at, attempts FROM {OUTBOX} ORDER BY id DESC LIMIT 1"
)


def _published(database_url: str) -> Callable[..., dict[str, Any]]:
    def produce(*_: Any, **__: Any) -> dict[str, Any]:
        with psycopg.connect(psycopg_url(database_url)) as conn:
            row = conn.execute(_LATEST).fetchone()
        if row is None:
            raise LookupError("the state wrote no outbox row")
        envelope = relay_envelope(row)
        return {
            "contents": json.dumps(envelope).encode(),
            "content_type": "application/json",
            "metadata": {"outbox_event_id": envelope["event_id"]},
        }

    return produce


def test_orders_service_outbox_honours_its_events(  # type: ignore[no-untyped-def]
    orders_provider, orders_database, monolith_url: str, ledger: Path
) -> None:
    assert PACT.exists(), "run the consumer tests first"
    url, engine = orders_database
    handlers = state_handlers(engine, orders_provider.settings, monolith_url=monolith_url,
                              users=orders_provider.users)  # fmt: skip
    try:
        outcome = verify_messages(
            PACT,
            implementation="orders",
            producers={PAID: _published(url)},
            states={"a customer has a paid order": handlers["a customer has a paid order"]},
            ledger=ledger,
        )
    finally:
        wipe(engine)
    assert outcome.passed, outcome.report() + "\n" + outcome.output
    assert outcome.interactions == 1
