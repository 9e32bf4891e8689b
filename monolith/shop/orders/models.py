from __future__ import annotations

from django.conf import settings
from django.db import models

from shop.core.clock import legacy_now


class OrderStatus(models.TextChoices):
    NEW = "new", "New"
    PAID = "paid", "Paid"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


# The whole status pipeline. ``shop.orders.services.order_transition`` is the only writer.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.NEW: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class Order(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    email = models.EmailField(max_length=254)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    cur = models.CharField(max_length=3, default="EUR")
    # The shipping address is copied onto the order (customers edit their addresses later).
    ship_name = models.CharField(max_length=200)
    ship_line1 = models.CharField(max_length=200)
    ship_line2 = models.CharField(max_length=200, blank=True, default="")
    ship_city = models.CharField(max_length=100)
    ship_zip = models.CharField(max_length=20)
    ship_country = models.CharField(max_length=2)
    created = models.DateTimeField(default=legacy_now)
    updated = models.DateTimeField(default=legacy_now)

    class Meta:
        db_table = "shop_order"
        ordering = ("-id",)
        indexes = [models.Index(fields=["user", "-id"], name="shop_order_user_idx")]

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.status})"

    def allowed_next_statuses(self) -> frozenset[str]:
        return ALLOWED_TRANSITIONS.get(self.status, frozenset())

    def can_transition_to(self, status: str) -> bool:
        return status in self.allowed_next_statuses()


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    # Copied at checkout so the order reads the same after the product changes.
    sku = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    qty = models.IntegerField()

    class Meta:
        db_table = "shop_orderline"
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.qty} x {self.sku}"

    @property
    def line_total(self):  # type: ignore[no-untyped-def]
        return self.unit_price * self.qty
