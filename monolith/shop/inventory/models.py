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


class InventoryCommandKind(models.TextChoices):
    RESERVE = "reserve", "Reserve"
    RELEASE = "release", "Release"


class InventoryCommand(models.Model):
    """A stock command of the checkout saga, recorded with its outcome.

    Written in the same transaction as the stock moves it made (or with none), so a
    repeated command finds the outcome of the first and changes nothing. A reserve's
    ``reservation_id`` is its own command id; a release names the reservation it gives
    back, and a release recorded before its reservation (a tombstone) cancels it.
    """

    command_id = models.UUIDField(unique=True)
    kind = models.CharField(max_length=10, choices=InventoryCommandKind.choices)
    order_id = models.BigIntegerField()
    reservation_id = models.UUIDField(db_index=True)
    lines = models.JSONField(default=list)
    outcome = models.CharField(max_length=32)
    detail = models.JSONField(default=dict)
    created = models.DateTimeField(default=legacy_now)

    class Meta:
        db_table = "shop_inventory_command"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.kind} {self.command_id} (order {self.order_id}): {self.outcome}"
