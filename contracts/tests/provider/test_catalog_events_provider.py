"""The catalog-events message pact, verified against the monolith's real producer path.

States call the catalog services (which record outbox rows in their transaction, via
``shop.outbox.events``); each producer reads the newest outbox row of that kind and turns
it into exactly what the relay publishes: ``outbox.relay._envelope(row)`` as the task's
JSON argument. Celery and the broker stay out (PACT-NOTES section 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
from contracts.paths import PACTS_DIR
from contracts.verification import verify_messages
from django.db import connection, connections, transaction
from outbox.relay import _envelope as relay_envelope
from outbox.schema import Tables

PACT = PACTS_DIR / "catalog-sync-catalog-events.json"
OUTBOX = Tables("").outbox  # the monolith's outbox table (no prefix)
# The relay's claim columns, in its order (outbox.relay._Sql.claim).
_LATEST = (
    f"SELECT id, event_id, aggregate_type, aggregate_id, version, event_type, payload, headers,"
    f" created_at, attempts FROM {OUTBOX} WHERE event_type = %s ORDER BY id DESC LIMIT 1"
)


def _thread_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Pact calls states and producers from its helper threads: close their connections."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    wrapper.__name__ = fn.__name__
    wrapper.__signature__ = __import__("inspect").signature(fn)  # type: ignore[attr-defined]
    return wrapper


def _wipe() -> None:
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE shop_product, shop_category, {OUTBOX} RESTART IDENTITY CASCADE")


def _seed_product(parameters: Mapping[str, Any]) -> int:
    from shop.catalog import services

    category = None
    if parameters.get("category"):
        category = services.category_create(name=str(parameters["category"]).title(),
                                            slug=str(parameters["category"]))  # fmt: skip
    product = services.product_create(
        sku=str(parameters.get("sku", "SKU-0042")),
        name=str(parameters.get("name", "Espresso cup")),
        price=str(parameters.get("price", "12.50")),
        description=str(parameters.get("description", "")),
        category=category,
        attributes=parameters.get("attributes") or {},
        weight_grams=parameters.get("weight_grams"),
        stock=int(parameters.get("stock", 5)),
    )
    return int(product.pk)


def _state(seed: Callable[[Mapping[str, Any]], Any]) -> Callable[..., None]:
    @_thread_safe
    def handler(action: str, parameters: Mapping[str, Any] | None = None) -> None:
        if action != "setup":
            return
        with transaction.atomic():
            _wipe()
            seed(parameters or {})

    return handler


def _stock_changed(parameters: Mapping[str, Any]) -> None:
    from shop.inventory import services as inventory

    product_id = _seed_product({"sku": parameters.get("sku", "SKU-0042"), "stock": 0})
    inventory.stock_set(product_id=product_id, quantity=int(parameters.get("stock", 7)), ref="pact")


def _category(parameters: Mapping[str, Any]) -> None:
    from shop.catalog import services

    services.category_create(name=str(parameters.get("name", "Cups")),
                             slug=str(parameters.get("slug", "cups")))  # fmt: skip


def _published(event_type: str) -> Callable[..., dict[str, Any]]:
    @_thread_safe
    def produce(*_: Any, **__: Any) -> dict[str, Any]:
        # The relay reads with its own psycopg connection (jsonb -> dict, timestamptz ->
        # aware datetime); Django's cursor would hand back text and naive times instead.
        params = connection.get_connection_params()
        for django_only in (
            "context",
            "cursor_factory",
            "server_side_binding",
            "prepare_threshold",
        ):
            params.pop(django_only, None)  # Django's loaders: jsonb as text, naive times
        with psycopg.connect(**params) as conn:
            row = conn.execute(_LATEST, [event_type]).fetchone()
        if row is None:
            raise LookupError(f"the state wrote no {event_type} outbox row")
        envelope = relay_envelope(row)
        headers = {"outbox_event_id": envelope["event_id"]}  # as Relay._send sets them
        return {
            "contents": json.dumps(envelope).encode(),
            "content_type": "application/json",
            "metadata": headers,
        }

    return produce


@pytest.mark.django_db(transaction=True)
def test_monolith_outbox_honours_catalog_events(ledger: Path) -> None:
    assert PACT.exists(), "run the consumer tests first"
    outcome = verify_messages(
        PACT,
        implementation="monolith",
        producers={
            "a catalog.product.upserted.v1 event": _published("catalog.product.upserted.v1"),
            "a catalog.product.stock_changed.v1 event": _published(
                "catalog.product.stock_changed.v1"
            ),
            "a catalog.category.upserted.v1 event": _published("catalog.category.upserted.v1"),
        },
        states={
            "a product was created": _state(_seed_product),
            "a product's stock changed": _state(_stock_changed),
            "a category was created": _state(_category),
        },
        ledger=ledger,
    )
    assert outcome.passed, outcome.report() + "\n" + outcome.output
    assert outcome.interactions == 3
