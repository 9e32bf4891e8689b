from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from acl.catalog import events
from acl.catalog.events import (
    CategoryRemoved,
    CategorySnapshot,
    EventType,
    ProductRemoved,
    ProductSnapshot,
    decode_event,
)
from acl.catalog.legacy import LegacyCategoryRow, LegacyProductRow
from acl.catalog.rows import category_from_row, product_from_row
from acl.testing import category_rows, product_rows
from hypothesis import given
from hypothesis import strategies as st

from acl import UntranslatableRecord


@given(product_rows(), st.integers(1, 2**40), st.booleans())
def test_product_events_round_trip(row: LegacyProductRow, version: int, stock_only: bool) -> None:
    build = events.product_stock_changed if stock_only else events.product_upserted
    event = build(row, version=version, headers={"origin": "monolith"})
    decoded = decode_event(json.dumps(event).encode())
    assert isinstance(decoded, ProductSnapshot)
    assert decoded.meta.version == version
    assert decoded.meta.headers == {"origin": "monolith"}
    assert decoded.product == product_from_row(row, version=version)
    assert decoded.meta.event_type is (
        EventType.PRODUCT_STOCK_CHANGED if stock_only else EventType.PRODUCT_UPSERTED
    )


@given(category_rows(), st.integers(1, 1000))
def test_category_events_round_trip(row: LegacyCategoryRow, version: int) -> None:
    decoded = decode_event(events.category_upserted(row, version=version))
    assert isinstance(decoded, CategorySnapshot)
    assert decoded.category == category_from_row(row, version=version)


def test_tombstones() -> None:
    product = decode_event(events.product_deleted(5, version=9))
    assert isinstance(product, ProductRemoved)
    assert (product.legacy_id, product.meta.version) == (5, 9)
    category = decode_event(events.category_deleted(2, version=1))
    assert isinstance(category, CategoryRemoved)


def test_example_from_the_readme_decodes() -> None:
    example = {
        "event_id": "0b6f2c1e-8a57-4c3e-9d7e-3f1f1b2a9c10",
        "event_type": "catalog.product.upserted.v1",
        "aggregate_type": "catalog.product",
        "aggregate_id": "12",
        "aggregate_version": 7,
        "occurred_at": "2024-05-01T08:00:00.123456Z",
        "headers": {"origin": "monolith", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        "payload": {
            "row": {
                "id": 12, "sku": " sku-000012", "nm": "Mug", "descr": "", "cat_id": 3,
                "prc": "12.50", "cur": "eur", "st": "A", "qty": 7, "attrs": "color=red",
                "wt": 250, "created": "2024-05-01T10:00:00", "updated": "2024-05-01T10:00:00",
            },
            "changed": ["prc"],
        },
    }  # fmt: skip
    decoded = decode_event(example)
    assert isinstance(decoded, ProductSnapshot)
    assert decoded.meta.event_id == uuid.UUID("0b6f2c1e-8a57-4c3e-9d7e-3f1f1b2a9c10")
    assert decoded.meta.occurred_at == datetime(2024, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)
    assert decoded.product.sku == "SKU-000012"
    assert decoded.changed == ("prc",)


def _valid() -> dict[str, object]:
    return events.product_deleted(5, version=1)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(event_type="catalog.product.renamed.v9"), "event_type"),
        (lambda e: e.update(aggregate_version=0), "aggregate_version"),
        (lambda e: e.update(occurred_at="2024-05-01T10:00:00"), "occurred_at"),
        (lambda e: e.update(aggregate_type="catalog.category"), "aggregate_type"),
        (lambda e: e.update(aggregate_id="6"), "aggregate_id"),
        (lambda e: e.update(payload={"id": "5"}), "payload.id"),
        (lambda e: e.pop("event_id"), "event_id"),
        (lambda e: e.update(surprise=True), "surprise"),
    ],
)
def test_poison_events_are_untranslatable(mutate: object, field: str) -> None:
    event = _valid()
    mutate(event)  # type: ignore[operator]
    with pytest.raises(UntranslatableRecord) as exc:
        decode_event(event)
    assert exc.value.field == field


def test_a_bad_row_inside_an_event_names_the_column() -> None:
    row: LegacyProductRow = {
        "id": 1, "sku": "A", "nm": "x", "descr": "", "cat_id": None, "prc": Decimal("1.00"),
        "cur": "EUR", "st": "A", "qty": 1, "attrs": "broken", "wt": None,
        "created": datetime(2024, 1, 1), "updated": datetime(2024, 1, 1),
    }  # fmt: skip
    with pytest.raises(UntranslatableRecord) as exc:
        decode_event(events.product_upserted(row, version=1))
    assert exc.value.field == "attrs"
    with pytest.raises(UntranslatableRecord, match=r"not valid JSON|Invalid JSON"):
        decode_event(b"{not json")
