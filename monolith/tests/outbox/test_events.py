"""Every catalog and inventory write records exactly its events, in its own transaction."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from acl.catalog.events import ProductSnapshot, decode_outbox_message
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, transaction
from shop.cart.services import cart_add_item, cart_get_or_create
from shop.catalog import services as catalog
from shop.catalog.models import Product
from shop.core.errors import InsufficientStock
from shop.inventory import services as inventory
from shop.orders.services import ShippingAddress, checkout, order_transition

UPSERTED = "catalog.product.upserted.v1"
STOCK = "catalog.product.stock_changed.v1"
CATEGORY = "catalog.category.upserted.v1"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def last_id() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM outbox")
        return int(cur.fetchone()[0])


def events_since(mark: int) -> list[dict[str, Any]]:
    """The outbox rows after ``mark`` as the relay would send them (envelopes)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT event_id, aggregate_type, aggregate_id, version, event_type, payload,"
            " headers, created_at AT TIME ZONE 'UTC', txid = pg_current_xact_id()"
            " FROM outbox WHERE id > %s ORDER BY id",
            [mark],
        )
        rows = cur.fetchall()
    return [
        {
            "event_id": str(r[0]), "aggregate_type": r[1], "aggregate_id": r[2],
            "version": r[3], "event_type": r[4],
            "payload": r[5] if isinstance(r[5], dict) else json.loads(r[5]),
            "headers": r[6] if isinstance(r[6], dict) else json.loads(r[6]),
            "created_at": r[7].isoformat() + "+00:00", "same_tx": r[8],
        }
        for r in rows
    ]  # fmt: skip


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["event_type"], e["aggregate_id"], e["version"]) for e in events]


def current_version(aggregate_type: str, aggregate_id: int) -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT version FROM outbox_aggregate_version"
            " WHERE aggregate_type = %s AND aggregate_id = %s",
            [aggregate_type, str(aggregate_id)],
        )
        row = cur.fetchone()
        return int(row[0]) if row else 0


def assert_row_matches(event: dict[str, Any], product: Product) -> None:
    """The payload is the row as committed, and it decodes through the ACL."""
    product.refresh_from_db()
    row = event["payload"]["row"]
    assert row["id"] == product.pk
    assert row["prc"] == f"{product.prc:.2f}"
    assert row["qty"] == product.qty
    assert row["st"] == product.st
    assert row["updated"] == product.updated.isoformat()
    decoded = decode_outbox_message(event)
    assert isinstance(decoded, ProductSnapshot)
    assert decoded.product.legacy_id == product.pk
    assert decoded.meta.version == event["version"]


@pytest.mark.django_db
class TestProducts:
    def test_create_without_stock_is_one_upsert(self, categories):
        mark = last_id()
        product = catalog.product_create(sku="new-1", name="Cup", price="3.50")
        events = events_since(mark)
        assert summary(events) == [(UPSERTED, str(product.pk), 1)]
        event = events[0]
        assert event["aggregate_type"] == "catalog.product"
        assert event["same_tx"]  # written by the service's own transaction
        assert event["headers"]["origin"] == "monolith"
        assert event["headers"]["causation_id"]
        assert "traceparent" not in event["headers"]  # no request, no trace
        assert_row_matches(event, product)

    def test_create_with_stock_adds_the_stock_event(self, db):
        mark = last_id()
        product = catalog.product_create(sku="new-2", name="Cup", price="3.50", stock=5)
        events = events_since(mark)
        assert summary(events) == [(UPSERTED, str(product.pk), 1), (STOCK, str(product.pk), 2)]
        assert events[0]["payload"]["row"]["qty"] == 0
        assert events[1]["payload"]["row"]["qty"] == 5
        assert events[1]["payload"]["changed"] == ["qty"]
        assert_row_matches(events[1], product)

    def test_update_records_changed_columns(self, product, categories):
        v = current_version("catalog.product", product.pk)
        mark = last_id()
        catalog.product_update(product=product, price="9.99", category=categories["garden"])
        events = events_since(mark)
        assert summary(events) == [(UPSERTED, str(product.pk), v + 1)]
        assert set(events[0]["payload"]["changed"]) == {"prc", "cat_id", "updated"}
        assert events[0]["payload"]["row"]["cat_id"] == categories["garden"].pk
        assert_row_matches(events[0], product)

    def test_update_with_stock_take(self, product):
        v = current_version("catalog.product", product.pk)
        mark = last_id()
        catalog.product_update(product=product, name="Renamed", stock=3)
        assert summary(events_since(mark)) == [
            (UPSERTED, str(product.pk), v + 1),
            (STOCK, str(product.pk), v + 2),
        ]

    def test_update_without_changes_records_nothing(self, product):
        mark = last_id()
        catalog.product_update(product=product, sku=product.sku.lower())  # same normalised sku
        assert events_since(mark) == []

    def test_status_and_soft_delete(self, product):
        v = current_version("catalog.product", product.pk)
        mark = last_id()
        catalog.product_set_status(product=product, status="H")
        catalog.product_delete(product=product)
        events = events_since(mark)
        # Soft delete keeps the row (status D): an upsert, not a tombstone.
        assert summary(events) == [
            (UPSERTED, str(product.pk), v + 1),
            (UPSERTED, str(product.pk), v + 2),
        ]
        assert [e["payload"]["row"]["st"] for e in events] == ["H", "D"]

    def test_bulk_status_one_event_per_changed_row(self, make_product):
        a, b, c = (make_product() for _ in range(3))
        catalog.product_set_status(product=c, status="H")
        versions = {p.pk: current_version("catalog.product", p.pk) for p in (a, b, c)}
        mark = last_id()
        assert catalog.product_bulk_set_status(product_ids=[a.pk, b.pk, c.pk], status="H") == 2
        events = events_since(mark)
        assert sorted(summary(events)) == sorted(
            [(UPSERTED, str(p.pk), versions[p.pk] + 1) for p in (a, b)]
        )
        assert {e["payload"]["row"]["st"] for e in events} == {"H"}
        assert all(e["same_tx"] for e in events)
        assert_row_matches(events[0], Product.objects.get(pk=int(events[0]["aggregate_id"])))


@pytest.mark.django_db
class TestCategories:
    def test_create_and_update(self, db):
        mark = last_id()
        parent = catalog.category_create(name="Home")
        child = catalog.category_create(name="Tea", parent=parent)
        catalog.category_update(category=child, name="Tea & Coffee", sort_order=2)
        events = events_since(mark)
        assert summary(events) == [
            (CATEGORY, str(parent.pk), 1),
            (CATEGORY, str(child.pk), 1),
            (CATEGORY, str(child.pk), 2),
        ]
        assert events[2]["payload"]["row"] == {
            "id": child.pk, "name": "Tea & Coffee", "slug": "tea", "parent_id": parent.pk,
            "sort_order": 2,
        }  # fmt: skip
        decode_outbox_message(events[2])


@pytest.mark.django_db
class TestInventory:
    def test_adjust_reserve_release(self, product):
        v = current_version("catalog.product", product.pk)
        mark = last_id()
        inventory.stock_adjust(product_id=product.pk, delta=4)
        inventory.stock_reserve(product_id=product.pk, quantity=2, ref="x")
        inventory.stock_release(product_id=product.pk, quantity=1, ref="x")
        events = events_since(mark)
        assert summary(events) == [(STOCK, str(product.pk), v + i) for i in (1, 2, 3)]
        assert [e["payload"]["row"]["qty"] for e in events] == [11, 9, 10]
        assert_row_matches(events[-1], product)

    def test_insufficient_stock_records_nothing(self, product):
        mark = last_id()
        with pytest.raises(InsufficientStock):
            inventory.stock_reserve(product_id=product.pk, quantity=999, ref="x")
        assert events_since(mark) == []

    def test_bulk_restock_one_event_per_existing_product(self, make_product):
        products = [make_product(stock=1) for _ in range(3)]
        mark = last_id()
        changed = inventory.stock_bulk_restock(
            product_ids=[p.pk for p in products] + [999_999], quantity=5, ref="admin"
        )
        assert changed == 3
        events = events_since(mark)
        assert sorted(int(e["aggregate_id"]) for e in events) == sorted(p.pk for p in products)
        assert {e["event_type"] for e in events} == {STOCK}
        assert {e["payload"]["row"]["qty"] for e in events} == {6}

    def test_checkout_reserves_and_cancel_releases(self, product, make_product):
        second = make_product(price="3.00", stock=4)
        cart = cart_get_or_create(user=AnonymousUser(), session=SessionStore())
        cart_add_item(cart=cart, product_id=product.pk, quantity=2)
        cart_add_item(cart=cart, product_id=second.pk, quantity=1)
        mark = last_id()
        order = checkout(
            cart=cart, user=AnonymousUser(), email="g@example.com",
            address=ShippingAddress(name="A", line1="Str 1", city="Berlin", zip="10115",
                                    country="de"),
            card_number="4242424242424242", idempotency_key="k-outbox-1",
        ).order  # fmt: skip
        reserved = events_since(mark)
        assert {(e["event_type"], int(e["aggregate_id"])) for e in reserved} == {
            (STOCK, product.pk),
            (STOCK, second.pk),
        }
        mark = last_id()
        order_transition(order=order, to_status="cancelled")
        released = events_since(mark)
        assert {(e["event_type"], int(e["aggregate_id"])) for e in released} == {
            (STOCK, product.pk),
            (STOCK, second.pk),
        }
        qty = {int(e["aggregate_id"]): e["payload"]["row"]["qty"] for e in released}
        assert qty == {product.pk: 7, second.pk: 4}


@pytest.mark.django_db
def test_rollback_records_nothing(product):
    mark = last_id()
    v = current_version("catalog.product", product.pk)
    seen: list[int] = []

    def change_then_fail() -> None:
        with transaction.atomic():
            catalog.product_update(product=product, price="1.00")
            inventory.stock_adjust(product_id=product.pk, delta=1)
            seen.append(len(events_since(mark)))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert seen == [2]  # written inside the transaction...
    assert events_since(mark) == []
    assert current_version("catalog.product", product.pk) == v  # the counter rolled back too


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_is_refused(product):
    from shop.outbox import events

    with pytest.raises(RuntimeError, match="inside the change's transaction"):
        events.products_changed([product.pk])


@pytest.mark.django_db
def test_request_traceparent_and_request_id_become_headers(staff_api, product):
    mark = last_id()
    response = staff_api.patch(
        f"/api/products/{product.pk}/", {"price": "4.20"}, format="json",
        HTTP_TRACEPARENT=TRACEPARENT, HTTP_X_REQUEST_ID="req-123",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    events = events_since(mark)
    assert len(events) == 1
    # The request's trace continues: same trace id, the parent being the shop's own span
    # when tracing runs (core/test_observability.py), the caller's span when it does not.
    assert events[0]["headers"]["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
    assert events[0]["headers"]["causation_id"] == "req-123"
    assert events[0]["payload"]["row"]["prc"] == "4.20"


@pytest.mark.django_db
def test_malformed_traceparent_is_dropped(staff_api, product):
    mark = last_id()
    staff_api.patch(
        f"/api/products/{product.pk}/", {"price": "4.30"}, format="json",
        HTTP_TRACEPARENT="garbage",
    )  # fmt: skip
    (event,) = events_since(mark)
    # Not taken over: with tracing the request starts a trace of its own, without none.
    assert "garbage" not in event["headers"].get("traceparent", "")
    assert event["headers"]["causation_id"]


def test_price_is_decimal_text():
    assert f"{Decimal('4.2'):.2f}" == "4.20"
