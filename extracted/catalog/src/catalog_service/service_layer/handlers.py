"""Sync handlers: apply what the monolith says happened, newest version wins.

They only make the effect, inside a transaction someone else owns: the catalog consumer
(``service_layer/sync.py``) runs them under the outbox library's inbox, which claims the
event id (a duplicate never gets here), checks the per-aggregate version and commits the
inbox row and the effect together. The stores keep their own "only if newer" check too,
so a backfilled row is never overwritten by an older event.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from acl.catalog.events import (
    CatalogEvent,
    CategoryRemoved,
    CategorySnapshot,
    ProductRemoved,
    ProductSnapshot,
)

from catalog_service.domain import ApplyOutcome
from catalog_service.service_layer.unit_of_work import Stores

logger = logging.getLogger(__name__)

CONSUMER = "catalog.sync"


def _outcome(applied: bool) -> ApplyOutcome:
    return ApplyOutcome.APPLIED if applied else ApplyOutcome.STALE


def handle(stores: Stores, event: CatalogEvent) -> ApplyOutcome:
    """Apply a decoded integration event to the stores (no commit)."""
    version = event.meta.version
    match event:
        case ProductSnapshot():
            product = event.product
            if product.version != version:
                product = replace(product, version=version)
            applied = stores.products.upsert_if_newer(product)
            if not applied:
                # The catalog fields lost to an equal or newer state (a service write), but
                # the stock is the monolith's: a newer monolith version still carries it.
                stores.products.take_stock(product.legacy_id, product.stock, version)
            outcome = _outcome(applied)
        case ProductRemoved():
            outcome = _outcome(stores.products.tombstone_if_newer(event.legacy_id, version))
        case CategorySnapshot():
            category = event.category
            if category.version != version:
                category = replace(category, version=version)
            outcome = _outcome(stores.categories.upsert_if_newer(category))
        case CategoryRemoved():
            outcome = _outcome(stores.categories.tombstone_if_newer(event.legacy_id, version))
    logger.debug("%s v%s: %s", event.meta.event_type, version, outcome)
    return outcome
