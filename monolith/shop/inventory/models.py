from __future__ import annotations

from django.db import models

from shop.core.clock import legacy_now


class StockMoveReason(models.TextChoices):
    INITIAL = "initial", "Initial stock"
    RESTOCK = "restock", "Restock"
    SALE = "sale", "Sale"
    CANCEL = "cancel", "Cancellation"
    ADJUST = "adjust", "Manual adjustment"


class StockMove(models.Model):
    """One change of ``shop_product.qty``; the sum of ``delta`` per product equals its qty."""

    product = models.ForeignKey(
        "catalog.Product", on_delete=models.PROTECT, related_name="stock_moves"
    )
    delta = models.IntegerField()
    reason = models.CharField(max_length=20, choices=StockMoveReason.choices)
    ref = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(default=legacy_now)

    class Meta:
        db_table = "shop_stockmove"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.delta:+d} {self.reason} ({self.ref})"
