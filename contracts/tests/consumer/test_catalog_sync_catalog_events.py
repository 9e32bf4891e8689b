"""What the catalog service's sync consumer relies on from the monolith's outbox events.

The message is the relay's transport envelope (``outbox.envelope.Envelope``, the Celery
task's only argument). The handler is the consumer's real decoding path: the envelope
check, then the ACL's ``decode_outbox_message`` with the service's attrs policy; a
message it cannot translate fails the pact.
"""

from __future__ import annotations

import json
from typing import Any

from acl.catalog.events import CategorySnapshot, ProductSnapshot, decode_outbox_message
from acl.catalog.quirks import AttrsPolicy
from outbox.envelope import validate
from pact import Pact, match

from contracts import shapes

CONSUMER = "catalog-sync"
PROVIDER = "catalog-events"

ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$"
LEGACY_LOCAL = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$"


def _envelope(event_type: str, aggregate_type: str, aggregate_id: str, payload: Any) -> Any:
    return {
        "event_id": match.uuid("7f9c5a52-3d3e-4b7e-9d2a-1c3e8f0b6a11"),
        "aggregate_type": aggregate_type,
        "aggregate_id": match.regex(aggregate_id, regex=r"^\d+$"),
        "version": match.int(1),
        "event_type": event_type,
        "payload": payload,
        "headers": {"origin": "monolith"},
        "created_at": match.regex("2024-05-01T08:00:00.123456+00:00", regex=ISO_UTC),
    }


PRODUCT_ROW = {
    "id": match.int(42),
    "sku": match.str("SKU-0042"),
    "nm": match.str("Espresso cup"),
    "descr": match.str("Small and strong."),
    "cat_id": match.int(3),
    "prc": shapes.money("12.50"),
    "cur": match.regex("EUR", regex=r"^[A-Za-z]{3}$"),
    "st": match.regex("A", regex=shapes.STATUS),
    "qty": match.int(5),
    "attrs": match.str("color=red"),
    "wt": match.int(250),
    "created": match.regex("2024-05-01T10:00:00", regex=LEGACY_LOCAL),
    "updated": match.regex("2024-05-01T10:00:00", regex=LEGACY_LOCAL),
}


def _decode(body: str | bytes | None) -> Any:
    assert body is not None
    envelope = validate(json.loads(body))
    return decode_outbox_message(envelope, attrs_policy=AttrsPolicy.LEGACY)


def test_product_upserted(pact: Pact) -> None:
    (
        pact.upon_receiving("a catalog.product.upserted.v1 event", "Async")
        .given(
            "a product was created",
            sku="SKU-0042",
            price="12.50",
            category="cups",
            name="Espresso cup",
            attributes={"color": "red"},
            weight_grams=250,
            description="Small and strong.",
        )
        .with_body(
            _envelope(
                "catalog.product.upserted.v1",
                "catalog.product",
                "42",
                {"row": PRODUCT_ROW, "changed": match.each_like("nm", min=1)},
            ),
            content_type="application/json",
        )
    )
    seen: list[ProductSnapshot] = []

    def handler(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        event = _decode(body)
        assert isinstance(event, ProductSnapshot)
        seen.append(event)

    pact.verify(handler, "Async")
    assert seen
    assert seen[0].product.sku == "SKU-0042"
    assert str(seen[0].product.price.to_decimal()) == "12.50"


def test_product_stock_changed(pact: Pact) -> None:
    (
        pact.upon_receiving("a catalog.product.stock_changed.v1 event", "Async")
        .given("a product's stock changed", sku="SKU-0042", stock=7)
        .with_body(
            _envelope(
                "catalog.product.stock_changed.v1",
                "catalog.product",
                "42",
                {
                    "row": {**PRODUCT_ROW, "cat_id": None, "wt": None, "attrs": ""},
                    "changed": ["qty"],
                },
            ),
            content_type="application/json",
        )
    )
    seen: list[ProductSnapshot] = []

    def handler(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        event = _decode(body)
        assert isinstance(event, ProductSnapshot)
        seen.append(event)

    pact.verify(handler, "Async")
    assert seen
    assert seen[0].changed == ("qty",)


def test_category_upserted(pact: Pact) -> None:
    (
        pact.upon_receiving("a catalog.category.upserted.v1 event", "Async")
        .given("a category was created", slug="cups", name="Cups")
        .with_body(
            _envelope(
                "catalog.category.upserted.v1",
                "catalog.category",
                "3",
                {
                    "row": {
                        "id": match.int(3),
                        "name": match.str("Cups"),
                        "slug": match.str("cups"),
                        "parent_id": None,
                        "sort_order": match.int(0),
                    }
                },
            ),
            content_type="application/json",
        )
    )
    seen: list[CategorySnapshot] = []

    def handler(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        event = _decode(body)
        assert isinstance(event, CategorySnapshot)
        seen.append(event)

    pact.verify(handler, "Async")
    assert seen
    assert seen[0].category.slug == "cups"
