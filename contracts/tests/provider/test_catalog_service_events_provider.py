"""The catalog-service-events message pact, verified against the service's real writer.

States call the service's write use cases (``service_layer.writes``: the row and its
outbox event in one transaction, exactly what ``POST``/``PATCH /v2/products`` run) on a
scratch catalog database; each producer reads the newest outbox row back with the relay's
columns and turns it into exactly what the relay publishes: ``outbox.relay._envelope(row)``
as the task's JSON argument. Celery and the broker stay out (PACT-NOTES section 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg
from acl.catalog.domain import Category
from catalog_service.adapters.repository import CategoryRepository
from catalog_service.service_layer import writes
from catalog_service.settings import psycopg_url
from contracts.catalog_states import set_writes_frozen
from contracts.paths import PACTS_DIR
from contracts.verification import verify_messages
from outbox.relay import _envelope as relay_envelope
from outbox.schema import Tables
from sqlalchemy import Connection, Engine, text

PACT = PACTS_DIR / "shop-sync-catalog-service-events.json"
OUTBOX = Tables("").outbox  # the service's outbox table (no prefix)
# The relay's claim columns, in its order (outbox.relay._Sql.claim).
_LATEST = (
    f"SELECT id, event_id, aggregate_type, aggregate_id, version, event_type, payload, headers,"
    f" created_at, attempts FROM {OUTBOX} ORDER BY id DESC LIMIT 1"
)


def _create(conn: Connection, parameters: Mapping[str, Any]) -> int:
    category_id = parameters.get("category_id")
    if category_id is not None:
        slug = str(parameters.get("category", "cups"))
        CategoryRepository(conn).upsert_many(
            [Category(int(category_id), slug.title(), slug, None, 0, 1)]
        )
    attributes = parameters.get("attributes") or {}
    product = writes.create_product(
        conn,
        sku=str(parameters.get("sku", "SKU-0042")),
        name=str(parameters.get("name", "Espresso cup")),
        price=(str(parameters.get("price", "12.50")), "EUR"),
        description=parameters.get("description"),
        attributes=[(str(k), str(v)) for k, v in attributes.items()],
        category_id=None if category_id is None else int(category_id),
        weight_grams=parameters.get("weight_grams"),
    )
    return product.legacy_id


def _change_price(conn: Connection, parameters: Mapping[str, Any]) -> None:
    product_id = _create(conn, {"sku": parameters.get("sku", "SKU-0042")})
    changes = writes.ProductChanges(price=(str(parameters.get("price", "9.99")), "EUR"))
    writes.update_product(conn, product_id, changes)


def _states(engine: Engine) -> dict[str, Callable[..., None]]:
    def make(write: Callable[[Connection, Mapping[str, Any]], Any]) -> Callable[..., None]:
        def handler(action: str, parameters: Mapping[str, Any] | None = None) -> None:
            if action != "setup":
                return
            with engine.begin() as conn:
                conn.execute(
                    text("TRUNCATE products, categories, outbox, outbox_aggregate_version")
                )
                writes.set_frozen(conn, False)
            # A transaction of its own, as a request is: the outbox row is committed before
            # the producer reads it.
            with engine.begin() as conn:
                write(conn, parameters or {})

        return handler

    return {
        "a product was created in the catalog service": make(_create),
        "a product was changed in the catalog service": make(_change_price),
    }


def _published(database_url: str) -> Callable[..., dict[str, Any]]:
    def produce(*_: Any, **__: Any) -> dict[str, Any]:
        # The relay's own psycopg connection: jsonb -> dict, timestamptz -> aware datetime.
        with psycopg.connect(psycopg_url(database_url)) as conn:
            row = conn.execute(_LATEST).fetchone()
        if row is None:
            raise LookupError("the state wrote no outbox row")
        envelope = relay_envelope(row)
        return {
            "contents": json.dumps(envelope).encode(),
            "content_type": "application/json",
            "metadata": {"outbox_event_id": envelope["event_id"]},  # as Relay._send sets it
        }

    return produce


def test_catalog_service_outbox_honours_catalog_service_events(
    catalog_database: tuple[str, Engine], ledger: Path
) -> None:
    assert PACT.exists(), "run the consumer tests first"
    url, engine = catalog_database
    produce = _published(url)
    try:
        outcome = verify_messages(
            PACT,
            implementation="catalog",
            producers={
                "a catalog.product.upserted.v1 event for a product the service created": produce,
                "a catalog.product.upserted.v1 event for a price the service changed": produce,
            },
            states=_states(engine),
            ledger=ledger,
        )
    finally:
        set_writes_frozen(engine, True)  # the service's initial state
    assert outcome.passed, outcome.report() + "\n" + outcome.output
    assert outcome.interactions == 2
