"""``manage.py catalog_set_price ID PRICE``: change a price through the catalog service
functions (so the outbox event is written), print when it committed (demo sync check)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from shop.catalog.models import Product
from shop.catalog.services import product_update


class Command(BaseCommand):
    help = "Set a product's price through the services; prints the commit time as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("product_id", type=int)
        parser.add_argument("price")

    def handle(self, *args: Any, **options: Any) -> None:
        product = Product.objects.get(pk=options["product_id"])
        product = product_update(product=product, price=options["price"], actor="demo-check")
        committed = time.time()  # product_update's transaction has committed here
        self.stdout.write(
            json.dumps({"id": product.pk, "price": f"{product.prc:.2f}", "committed_at": committed})
        )
