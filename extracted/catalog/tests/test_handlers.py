from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from acl.catalog import events
from acl.catalog.domain import Attribute, Category, Money, Product, ProductStatus
from acl.catalog.events import decode_event
from catalog_service.adapters.repository import ProductRepository
from catalog_service.domain import ApplyOutcome
from catalog_service.service_layer import handlers
from catalog_service.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from sqlalchemy import Engine

MUG = Product(
    legacy_id=12, sku="SKU-12", name="Mug", description=None, category_legacy_id=3,
    price=Money(1250, "EUR"), status=ProductStatus.ACTIVE, stock=7,
    attributes=(Attribute("color", "red"),), weight_grams=250,
    created_at=datetime(2024, 5, 1, 8, tzinfo=UTC), updated_at=datetime(2024, 5, 1, 8, tzinfo=UTC),
)  # fmt: skip
ROW = {
    "id": 12, "sku": "SKU-12", "nm": "Mug", "descr": "", "cat_id": 3,
    "prc": Decimal("12.50"), "cur": "EUR", "st": "A", "qty": 7, "attrs": "color=red",
    "wt": 250, "created": datetime(2024, 5, 1, 10), "updated": datetime(2024, 5, 1, 10),
}  # fmt: skip


def product_event(version: int, **row: object) -> events.CatalogEvent:
    return decode_event(events.product_upserted({**ROW, **row}, version=version))  # type: ignore[arg-type]


def apply(engine: Engine, event: events.CatalogEvent) -> ApplyOutcome:
    with SqlAlchemyUnitOfWork(engine) as uow:
        outcome = handlers.handle(uow, event)
        uow.commit()
    return outcome


def stored(engine: Engine, legacy_id: int = 12) -> Product | None:
    with engine.connect() as conn:
        return ProductRepository(conn).get(legacy_id)


def test_newer_applies_older_or_equal_is_stale(clean: Engine) -> None:
    assert apply(clean, product_event(2)) is ApplyOutcome.APPLIED
    assert stored(clean) == replace(MUG, version=2, description=None)
    assert apply(clean, product_event(1, nm="Old mug")) is ApplyOutcome.STALE
    assert apply(clean, product_event(2, nm="Same version")) is ApplyOutcome.STALE
    assert apply(clean, product_event(3, prc=Decimal("9.99"))) is ApplyOutcome.APPLIED
    found = stored(clean)
    assert found is not None
    assert (found.name, found.price, found.version) == ("Mug", Money(999, "EUR"), 3)


def test_tombstone_beats_a_late_older_upsert(clean: Engine) -> None:
    apply(clean, product_event(1))
    removed = decode_event(events.product_deleted(12, version=3))
    assert apply(clean, removed) is ApplyOutcome.APPLIED
    assert stored(clean) is None
    assert apply(clean, product_event(2)) is ApplyOutcome.STALE
    assert stored(clean) is None


def test_categories_and_legacy_spellings(clean: Engine) -> None:
    assert apply(clean, product_event(1, id=7, sku=" sku-7", cur="eur")) is ApplyOutcome.APPLIED
    category = decode_event(events.category_upserted(
        {"id": 1, "name": "Kitchen", "slug": "kitchen", "parent_id": None, "sort_order": 0},
        version=1,
    ))  # fmt: skip
    assert apply(clean, category) is ApplyOutcome.APPLIED
    assert apply(clean, category) is ApplyOutcome.STALE
    assert apply(clean, decode_event(events.category_deleted(1, version=2))) is (
        ApplyOutcome.APPLIED
    )
    found = stored(clean, 7)
    assert found is not None
    assert found.legacy_sku == " sku-7"
    assert found.legacy_currency == "eur"


class FakeStores:
    """The handler's contract without a database (Cosmic Python style fake)."""

    def __init__(self) -> None:
        self.versions: dict[int, int] = {}
        fake = self

        class Products:
            def upsert_if_newer(self, product: Product) -> bool:
                if fake.versions.get(product.legacy_id, -1) >= product.version:
                    return False
                fake.versions[product.legacy_id] = product.version
                return True

            def tombstone_if_newer(self, legacy_id: int, version: int) -> bool:
                return False

            def take_stock(self, legacy_id: int, stock: int, version: int) -> bool:
                return False

        class Categories:
            def upsert_if_newer(self, category: Category) -> bool:
                return True

            def tombstone_if_newer(self, legacy_id: int, version: int) -> bool:
                return True

        self.products, self.categories = Products(), Categories()


@pytest.mark.parametrize("versions", [[1, 2, 3], [3, 2, 1], [2, 2, 1, 3]])
def test_any_delivery_order_ends_at_the_newest(versions: list[int]) -> None:
    stores = FakeStores()
    outcomes = [handlers.handle(stores, product_event(v)) for v in versions]
    assert stores.versions[12] == max(versions)
    assert outcomes.count(ApplyOutcome.APPLIED) == len(
        [v for i, v in enumerate(versions) if v > max(versions[:i], default=0)]
    )
