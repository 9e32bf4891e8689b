"""The legacy catalog tables: ``shop_category`` and ``shop_product``.

Column names are the ones the shop has had for ten years (``nm``, ``prc``, ``st``...);
an anti-corruption layer maps them. Do not rename them.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Trim, Upper

from shop.core.clock import legacy_now


class Category(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    sort_order = models.IntegerField(default=0)

    class Meta:
        db_table = "shop_category"
        ordering = ("sort_order", "name")
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class ProductStatus(models.TextChoices):
    ACTIVE = "A", "Active"
    HIDDEN = "H", "Hidden"
    DISCONTINUED = "D", "Discontinued"


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    nm = models.CharField("name", max_length=200)
    descr = models.TextField("description", blank=True, default="")
    category = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_column="cat_id",
        related_name="products",
    )
    prc = models.DecimalField("price", max_digits=10, decimal_places=2)
    cur = models.CharField("currency", max_length=3, default="EUR")
    st = models.CharField(
        "status", max_length=1, choices=ProductStatus.choices, default=ProductStatus.ACTIVE
    )
    # Stock on hand lives on the product row; only shop.inventory.services changes it.
    qty = models.IntegerField("stock", default=0)
    attrs = models.TextField("attributes", blank=True, default="")
    wt = models.IntegerField("weight (g)", null=True, blank=True)
    created = models.DateTimeField(default=legacy_now)
    updated = models.DateTimeField(default=legacy_now)

    class Meta:
        db_table = "shop_product"
        ordering = ("id",)
        indexes = [
            # sku lookups are case-insensitive and ignore stray spaces (legacy rows).
            models.Index(Upper(Trim("sku")), name="shop_product_sku_norm_idx"),
            models.Index(fields=["st", "category"], name="shop_product_st_cat_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(st__in=["A", "H", "D"]), name="shop_product_st_valid"
            ),
            # A safety net only: inventory services never try to go below zero.
            models.CheckConstraint(condition=models.Q(qty__gte=0), name="shop_product_qty_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.nm}"

    @property
    def is_active(self) -> bool:
        return self.st == ProductStatus.ACTIVE

    @property
    def in_stock(self) -> bool:
        return self.qty > 0
