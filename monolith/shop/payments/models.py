from __future__ import annotations

from django.db import models

from shop.core.clock import legacy_now


class PaymentStatus(models.TextChoices):
    AUTHORISED = "authorised", "Authorised"
    CAPTURED = "captured", "Captured"
    DECLINED = "declined", "Declined"
    VOIDED = "voided", "Voided"
    REFUNDED = "refunded", "Refunded"


class Payment(models.Model):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    cur = models.CharField(max_length=3, default="EUR")
    status = models.CharField(max_length=20, choices=PaymentStatus.choices)
    gateway_ref = models.CharField(max_length=64, blank=True, default="")
    # Why the gateway said no ('card_declined', 'insufficient_funds'); '' otherwise.
    decline_code = models.CharField(max_length=32, blank=True, default="")
    card_last4 = models.CharField(max_length=4, blank=True, default="")
    idempotency_key = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=legacy_now)

    class Meta:
        db_table = "shop_payment"
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.amount} {self.cur} {self.status} ({self.gateway_ref})"
