from __future__ import annotations

from django.conf import settings
from django.db import models

from shop.core.clock import legacy_now


class Cart(models.Model):
    """A guest cart (``user`` NULL, found through the session) or a user's one cart."""

    # The session key when the guest cart was created. Django rotates the key on login,
    # so the session also stores ``cart_id``; this column is kept for cleanup jobs.
    session_key = models.CharField(max_length=40, null=True, blank=True, db_index=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="cart",
    )
    created = models.DateTimeField(default=legacy_now)
    updated = models.DateTimeField(default=legacy_now)

    class Meta:
        db_table = "shop_cart"

    def __str__(self) -> str:
        return f"cart {self.pk} ({self.user or 'guest'})"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    qty = models.IntegerField()

    class Meta:
        db_table = "shop_cartitem"
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=["cart", "product"], name="shop_cartitem_cart_product_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.qty} x {self.product_id}"


class CartCommand(models.Model):
    """A cart command of the checkout saga (clear after a confirmed order), with its outcome.

    A repeated command answers as the first did and leaves the cart alone: the customer
    may have filled it again since.
    """

    command_id = models.UUIDField(unique=True)
    cart_id = models.IntegerField()
    outcome = models.CharField(max_length=32)
    created = models.DateTimeField(default=legacy_now)

    class Meta:
        db_table = "shop_cart_command"

    def __str__(self) -> str:
        return f"clear cart {self.cart_id} ({self.command_id}): {self.outcome}"
