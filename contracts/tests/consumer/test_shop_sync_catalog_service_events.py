"""What the monolith's catalog sync consumer (``shop.sync``) relies on from the catalog
service's product events: the reverse direction of step 4.

The message is the relay's transport envelope (``outbox.envelope.Envelope``, the Celery
task's only argument) as the relay publishes it from the service's outbox. The handler is
the monolith's real path up to the database: the envelope check ``outbox.Consumer`` makes,
then ``shop.sync.apply.decode`` (the ACL's decoding with the legacy attrs policy, product
snapshots only), then the reverse translator to the ``shop_product`` row it upserts. A
message it cannot take fails the pact.
"""

from __future__ import annotations

import json
from typing import Any

from acl.catalog.events import ProductSnapshot
from acl.catalog.rows import product_to_row
from outbox.envelope import validate
from pact import Pact, match
from shop.sync.apply import decode

from contracts import shapes

CONSUMER = "shop-sync"
PROVIDER = "catalog-service-events"

LEGACY_LOCAL = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$"
# Products created in the service take ids from 1,000,000,000 up (clear of the legacy serial).
SERVICE_ID = 1_000_000_042
# The interaction descriptions: the provider verification keys its producers by them.
CREATED = "a catalog.product.upserted.v1 event for a product the service created"
CHANGED = "a catalog.product.upserted.v1 event for a price the service changed"


def _envelope(aggregate_id: int, version: int, payload: Any) -> Any:
    return {
        "event_id": match.uuid("7f9c5a52-3d3e-4b7e-9d2a-1c3e8f0b6a11"),
        "aggregate_type": "catalog.product",
        "aggregate_id": match.regex(str(aggregate_id), regex=r"^\d+$"),
        "version": match.int(version),
        "event_type": "catalog.product.upserted.v1",
        "payload": payload,
        # origin "catalog": the monolith's writer suppresses only its own sync origin, and
        # the service never relays what it applied from the monolith.
        "headers": {
            "origin": "catalog",
            "causation_id": match.str("req-7f9c5a52"),
        },
        "created_at": match.regex("2024-05-01T08:00:00.123456+00:00", regex=shapes.ISO_UTC),
    }


def _row(**overrides: Any) -> dict[str, Any]:
    row = {
        "id": match.int(SERVICE_ID),
        "sku": match.str("SKU-0042"),
        "nm": match.str("Espresso cup"),
        "descr": match.str("Small and strong."),
        "cat_id": match.int(3),
        "prc": shapes.money("12.50"),
        "cur": match.regex("EUR", regex=r"^[A-Z]{3}$"),
        "st": match.regex("A", regex=shapes.STATUS),
        "qty": match.int(0),
        "attrs": match.str("color=red"),
        "wt": match.int(250),
        "created": match.regex("2024-05-01T10:00:00", regex=LEGACY_LOCAL),
        "updated": match.regex("2024-05-01T10:00:00", regex=LEGACY_LOCAL),
    }
    row.update(overrides)
    return row


def _handler(seen: list[tuple[ProductSnapshot, dict[str, Any]]]) -> Any:
    def handler(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        assert body is not None
        snapshot = decode(validate(json.loads(body)))
        seen.append((snapshot, dict(product_to_row(snapshot.product))))

    return handler


def test_product_created_in_the_service(pact: Pact) -> None:
    (
        pact.upon_receiving(CREATED, "Async")
        .given(
            "a product was created in the catalog service",
            sku="SKU-0042",
            name="Espresso cup",
            price="12.50",
            category_id=3,
            category="cups",
            attributes={"color": "red"},
            weight_grams=250,
            description="Small and strong.",
        )
        .with_body(
            _envelope(SERVICE_ID, 1, {"row": _row(), "changed": match.each_like("nm", min=1)}),
            content_type="application/json",
        )
    )
    seen: list[tuple[ProductSnapshot, dict[str, Any]]] = []
    pact.verify(_handler(seen), "Async")
    assert seen
    snapshot, row = seen[0]
    assert snapshot.meta.version == 1
    assert row["sku"] == "SKU-0042"
    assert str(row["prc"]) == "12.50"
    assert row["attrs"] == "color=red"


def test_product_changed_in_the_service(pact: Pact) -> None:
    (
        pact.upon_receiving(CHANGED, "Async")
        .given(
            "a product was changed in the catalog service",
            sku="SKU-0042",
            price="9.99",
        )
        .with_body(
            _envelope(
                SERVICE_ID,
                2,
                {
                    "row": _row(prc=shapes.money("9.99"), cat_id=None, wt=None, attrs="", descr=""),
                    "changed": ["prc", "cur", "updated"],
                },
            ),
            content_type="application/json",
        )
    )
    seen: list[tuple[ProductSnapshot, dict[str, Any]]] = []
    pact.verify(_handler(seen), "Async")
    assert seen
    snapshot, row = seen[0]
    assert snapshot.changed == ("prc", "cur", "updated")
    assert str(row["prc"]) == "9.99"
