"""The consumer in-process: the library's inbox around the catalog handlers, one transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from catalog_service.adapters.repository import ProductRepository
from catalog_service.service_layer.sync import build_consumer
from catalog_service.settings import Settings
from sqlalchemy import Engine, text

from outbox import Outcome

ROW = {
    "id": 5, "sku": "SKU-5", "nm": "Cup", "descr": "", "cat_id": None, "prc": "3.00",
    "cur": "EUR", "st": "A", "qty": 1, "attrs": "a=b", "wt": None,
    "created": "2024-05-01T10:00:00", "updated": "2024-05-01T10:00:00",
}  # fmt: skip


def envelope(version: int, product_id: int = 5, **row: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "aggregate_type": "catalog.product",
        "aggregate_id": str(product_id),
        "version": version,
        "event_type": "catalog.product.upserted.v1",
        "payload": {"row": {**ROW, "id": product_id, **row}, "changed": []},
        "headers": {"origin": "monolith", "schema_version": 1},
        "created_at": datetime.now(UTC).isoformat(),
    }


@pytest.fixture
def consumer(clean: Engine, catalog_url: str) -> Any:
    settings = Settings(
        database_url=catalog_url, sync_audit=True, sync_max_attempts=2, sync_backoff_base=0.01,
        attrs_policy="strict",
    )  # fmt: skip
    consumer = build_consumer(settings)
    yield consumer
    consumer._reset()


def scalar(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_apply_duplicate_stale_in_one_transaction(consumer: Any, clean: Engine) -> None:
    first = envelope(2, nm="Two")
    assert consumer.process(first) is Outcome.APPLIED
    assert consumer.process(first) is Outcome.DUPLICATE
    assert consumer.process(envelope(1, nm="One")) is Outcome.STALE
    assert consumer.process(envelope(3, nm="Three")) is Outcome.APPLIED
    with clean.connect() as conn:
        product = ProductRepository(conn).get(5)
    assert product is not None
    assert (product.name, product.version) == ("Three", 3)
    assert scalar(clean, "SELECT count(*) FROM inbox WHERE consumer = 'catalog.sync'") == 3
    assert scalar(clean, "SELECT count(*) FROM sync_applied_events") == 2


def test_a_failing_handler_leaves_no_inbox_row(consumer: Any, clean: Engine) -> None:
    bad = envelope(1, attrs="broken")  # refused by the ACL under the strict policy
    assert consumer.process(bad) is Outcome.PARKED
    assert scalar(clean, "SELECT count(*) FROM inbox") == 0
    assert scalar(clean, "SELECT count(*) FROM products") == 0
    assert scalar(clean, "SELECT count(*) FROM parked_events") == 1


def test_poison_parks_its_aggregate_only_and_release_replays(consumer: Any, clean: Engine) -> None:
    assert consumer.process(envelope(1, product_id=6, attrs="broken")) is Outcome.PARKED
    assert consumer.process(envelope(2, product_id=6, nm="Later")) is Outcome.PARKED_BEHIND
    assert consumer.process(envelope(1, product_id=7)) is Outcome.APPLIED  # others flow
    # the fix: the legacy attrs policy reads "broken" the way the monolith does
    consumer.sync.attrs_policy = "legacy"
    result = consumer.release("catalog.product", "6")
    assert (result.applied, result.remaining, result.error) == (2, 0, None)
    with clean.connect() as conn:
        product = ProductRepository(conn).get(6)
    assert product is not None
    assert (product.name, product.version) == ("Later", 2)
    assert scalar(clean, "SELECT count(*) FROM parked_events") == 0
