"""Sync handlers: apply what the monolith says happened, exactly once, newest wins.

Each runs in one transaction: record the event id in the inbox (a duplicate stops here),
then write only if the incoming version is newer than the stored one. The Celery consumer
(``entrypoints``, next step) decodes an event with ``acl.catalog.events.decode_event`` and
calls :func:`handle`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from acl.catalog.events import (
    CatalogEvent,
    CategoryRemoved,
    CategorySnapshot,
    ProductRemoved,
    ProductSnapshot,
)

from catalog_service.domain import ApplyOutcome, Category, Product
from catalog_service.service_layer.unit_of_work import AbstractUnitOfWork

logger = logging.getLogger(__name__)

CONSUMER = "catalog.sync"


def apply_product_snapshot(
    uow: AbstractUnitOfWork,
    snapshot: Product,
    version: int,
    event_id: uuid.UUID,
    *,
    consumer: str = CONSUMER,
) -> ApplyOutcome:
    product = snapshot if snapshot.version == version else replace(snapshot, version=version)
    with uow:
        if not uow.inbox.record(event_id, consumer):
            return ApplyOutcome.DUPLICATE
        applied = uow.products.upsert_if_newer(product)
        uow.commit()  # the inbox row commits even when stale: the event has been handled
    outcome = ApplyOutcome.APPLIED if applied else ApplyOutcome.STALE
    logger.debug("product %s v%s: %s", product.legacy_id, version, outcome)
    return outcome


def apply_product_removed(
    uow: AbstractUnitOfWork, legacy_id: int, version: int, event_id: uuid.UUID,
    *, consumer: str = CONSUMER,
) -> ApplyOutcome:  # fmt: skip
    with uow:
        if not uow.inbox.record(event_id, consumer):
            return ApplyOutcome.DUPLICATE
        applied = uow.products.tombstone_if_newer(legacy_id, version)
        uow.commit()
    return ApplyOutcome.APPLIED if applied else ApplyOutcome.STALE


def apply_category_snapshot(
    uow: AbstractUnitOfWork, category: Category, version: int, event_id: uuid.UUID,
    *, consumer: str = CONSUMER,
) -> ApplyOutcome:  # fmt: skip
    category = category if category.version == version else replace(category, version=version)
    with uow:
        if not uow.inbox.record(event_id, consumer):
            return ApplyOutcome.DUPLICATE
        applied = uow.categories.upsert_if_newer(category)
        uow.commit()
    return ApplyOutcome.APPLIED if applied else ApplyOutcome.STALE


def apply_category_removed(
    uow: AbstractUnitOfWork, legacy_id: int, version: int, event_id: uuid.UUID,
    *, consumer: str = CONSUMER,
) -> ApplyOutcome:  # fmt: skip
    with uow:
        if not uow.inbox.record(event_id, consumer):
            return ApplyOutcome.DUPLICATE
        applied = uow.categories.tombstone_if_newer(legacy_id, version)
        uow.commit()
    return ApplyOutcome.APPLIED if applied else ApplyOutcome.STALE


def handle(
    uow: AbstractUnitOfWork, event: CatalogEvent, *, consumer: str = CONSUMER
) -> ApplyOutcome:
    """Dispatch a decoded integration event to its handler."""
    meta = event.meta
    match event:
        case ProductSnapshot():
            return apply_product_snapshot(
                uow, event.product, meta.version, meta.event_id, consumer=consumer
            )
        case ProductRemoved():
            return apply_product_removed(
                uow, event.legacy_id, meta.version, meta.event_id, consumer=consumer
            )
        case CategorySnapshot():
            return apply_category_snapshot(
                uow, event.category, meta.version, meta.event_id, consumer=consumer
            )
        case CategoryRemoved():
            return apply_category_removed(
                uow, event.legacy_id, meta.version, meta.event_id, consumer=consumer
            )
