from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from acl.catalog import events
from acl.catalog.domain import Attribute, Category, Money, Product, ProductStatus
from acl.catalog.events import decode_event
from catalog_service.adapters.repository import ProductRepository
from catalog_service.adapters.tables import inbox, products
from catalog_service.domain import ApplyOutcome
from catalog_service.service_layer import handlers
from catalog_service.service_layer.unit_of_work import AbstractUnitOfWork, SqlAlchemyUnitOfWork
from sqlalchemy import Engine, func, select

MUG = Product(
    legacy_id=12, sku="SKU-12", name="Mug", description=None, category_legacy_id=3,
    price=Money(1250, "EUR"), status=ProductStatus.ACTIVE, stock=7,
    attributes=(Attribute("color", "red"),), weight_grams=250,
    created_at=datetime(2024, 5, 1, 8, tzinfo=UTC), updated_at=datetime(2024, 5, 1, 8, tzinfo=UTC),
)  # fmt: skip


def stored(engine: Engine, legacy_id: int = 12) -> Product | None:
    with engine.connect() as conn:
        return ProductRepository(conn).get(legacy_id)


def test_newer_applies_duplicate_is_a_no_op_older_is_skipped(clean: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(clean)
    first = uuid.uuid4()
    assert handlers.apply_product_snapshot(uow, MUG, 2, first) is ApplyOutcome.APPLIED
    assert stored(clean) == replace(MUG, version=2)

    cheaper = replace(MUG, price=Money(999, "EUR"))
    assert handlers.apply_product_snapshot(uow, cheaper, 5, first) is ApplyOutcome.DUPLICATE
    assert stored(clean) == replace(MUG, version=2)

    older = replace(MUG, name="Old mug")
    assert handlers.apply_product_snapshot(uow, older, 1, uuid.uuid4()) is ApplyOutcome.STALE
    assert handlers.apply_product_snapshot(uow, older, 2, uuid.uuid4()) is ApplyOutcome.STALE
    assert stored(clean) == replace(MUG, version=2)

    assert handlers.apply_product_snapshot(uow, cheaper, 3, uuid.uuid4()) is ApplyOutcome.APPLIED
    assert stored(clean) == replace(cheaper, version=3)
    with clean.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 4
        assert conn.execute(select(func.count()).select_from(products)).scalar_one() == 1


def test_tombstone_beats_a_late_older_upsert(clean: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(clean)
    handlers.apply_product_snapshot(uow, MUG, 1, uuid.uuid4())
    assert handlers.apply_product_removed(uow, 12, 3, uuid.uuid4()) is ApplyOutcome.APPLIED
    assert stored(clean) is None
    assert handlers.apply_product_snapshot(uow, MUG, 2, uuid.uuid4()) is ApplyOutcome.STALE
    assert stored(clean) is None


def test_decoded_events_dispatch(clean: Engine) -> None:
    from decimal import Decimal

    row = {
        "id": 7, "sku": " sku-7", "nm": "Cup", "descr": "", "cat_id": None,
        "prc": Decimal("3.00"), "cur": "eur", "st": "A", "qty": 0, "attrs": "",
        "wt": None, "created": datetime(2024, 1, 1), "updated": datetime(2024, 1, 2),
    }  # fmt: skip
    uow = SqlAlchemyUnitOfWork(clean)
    event = decode_event(events.product_upserted(row, version=1))  # type: ignore[arg-type]
    assert handlers.handle(uow, event) is ApplyOutcome.APPLIED
    assert handlers.handle(uow, event) is ApplyOutcome.DUPLICATE
    category = decode_event(events.category_upserted(
        {"id": 1, "name": "Kitchen", "slug": "kitchen", "parent_id": None, "sort_order": 0},
        version=1,
    ))  # fmt: skip
    assert handlers.handle(uow, category) is ApplyOutcome.APPLIED
    found = stored(clean, 7)
    assert found is not None
    assert found.legacy_sku == " sku-7"
    assert found.legacy_currency == "eur"


class FakeUnitOfWork(AbstractUnitOfWork):
    """The handler's contract without a database (Cosmic Python style fake)."""

    def __init__(self) -> None:
        self.seen: set[uuid.UUID] = set()
        self.versions: dict[int, int] = {}
        self.committed = 0
        fake = self

        class Inbox:
            def record(self, event_id: uuid.UUID, consumer: str) -> bool:
                if event_id in fake.seen:
                    return False
                fake.seen.add(event_id)
                return True

        class Products:
            def upsert_if_newer(self, product: Product) -> bool:
                if fake.versions.get(product.legacy_id, -1) >= product.version:
                    return False
                fake.versions[product.legacy_id] = product.version
                return True

            def tombstone_if_newer(self, legacy_id: int, version: int) -> bool:
                return False

        class Categories:
            def upsert_if_newer(self, category: Category) -> bool:
                return True

            def tombstone_if_newer(self, legacy_id: int, version: int) -> bool:
                return True

        self.inbox, self.products, self.categories = Inbox(), Products(), Categories()

    def commit(self) -> None:
        self.committed += 1

    def rollback(self) -> None:
        pass


@pytest.mark.parametrize("versions", [[1, 2, 3], [3, 2, 1], [2, 2, 1, 3]])
def test_any_delivery_order_ends_at_the_newest(versions: list[int]) -> None:
    uow = FakeUnitOfWork()
    for version in versions:
        handlers.apply_product_snapshot(uow, MUG, version, uuid.uuid4())
    assert uow.versions[12] == max(versions)
    assert uow.committed == len(versions)
