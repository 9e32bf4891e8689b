from __future__ import annotations

from django.conf import settings
from django.db import models


class Customer(models.Model):
    """Profile next to Django's auth user (the shop predates custom user models)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer"
    )
    phone = models.CharField(max_length=32, blank=True, default="")
    # Legacy flag stored as 'Y'/'N', not a boolean.
    marketing_opt_in = models.CharField(
        max_length=1, choices=[("Y", "Yes"), ("N", "No")], default="N"
    )

    class Meta:
        db_table = "shop_customer"

    def __str__(self) -> str:
        return self.user.get_username()


class Address(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    name = models.CharField(max_length=200)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True, default="")
    city = models.CharField(max_length=100)
    zip = models.CharField(max_length=20)
    country = models.CharField(max_length=2)
    is_default = models.BooleanField(default=False)

    class Meta:
        db_table = "shop_address"
        ordering = ("-is_default", "id")
        verbose_name_plural = "addresses"

    def __str__(self) -> str:
        return f"{self.name}, {self.line1}, {self.zip} {self.city}, {self.country}"
