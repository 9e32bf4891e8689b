"""``manage.py catalog_reemit --products 1,2 --categories 3 [--deleted-products 9]``.

Re-emits full-state events for the given aggregates through the outbox (new versions, so
they win over anything older downstream). What ``catalog-service reconcile --repair``
calls for the aggregates it found drifted. Ids that no longer exist here get a
``...deleted.v1`` tombstone when listed under ``--deleted-*``.
"""

from __future__ import annotations

from typing import Any

from acl.catalog import events as acl_events
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from outbox import record_event
from shop.outbox import events
from shop.outbox.context import event_headers


def _ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip()]


class Command(BaseCommand):
    help = "Re-emit catalog events for the given aggregates (reconcile --repair)."

    def add_arguments(self, parser: CommandParser) -> None:
        for flag in ("--products", "--categories", "--deleted-products", "--deleted-categories"):
            parser.add_argument(flag, default="")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            products = events.products_changed(_ids(options["products"]))
            categories = events.categories_changed(_ids(options["categories"]))
            tombstones = 0
            for flag, event_type, aggregate, table in (
                ("deleted_products", acl_events.EventType.PRODUCT_DELETED,
                 acl_events.PRODUCT_AGGREGATE, "shop_product"),
                ("deleted_categories", acl_events.EventType.CATEGORY_DELETED,
                 acl_events.CATEGORY_AGGREGATE, "shop_category"),
            ):  # fmt: skip
                with connection.cursor() as cur:
                    for legacy_id in _ids(options[flag]):
                        cur.execute(f"SELECT 1 FROM {table} WHERE id = %s", [legacy_id])  # noqa: S608
                        if cur.fetchone():
                            continue  # it exists after all: never tombstone a live row
                        record_event(
                            cur, aggregate_type=aggregate, aggregate_id=legacy_id,
                            event_type=str(event_type), payload={"id": legacy_id},
                            headers=event_headers(),
                        )  # fmt: skip
                        tombstones += 1
        self.stdout.write(
            f"re-emitted {products} product, {categories} category, {tombstones} tombstone events"
        )
