"""Catalog admin. Every write goes through ``shop.catalog.services`` / ``shop.inventory.services``:
``save_model`` calls ``product_create``/``product_update``, bulk actions call the bulk
services (one UPDATE each), and rows are never hard-deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.functions import Trim, Upper
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils.html import format_html

from shop.catalog import services
from shop.catalog.attrs import parse_attrs
from shop.catalog.models import Category, Product, ProductStatus
from shop.catalog.ownership import catalog_writes_frozen
from shop.core.errors import DomainError
from shop.inventory import services as inventory

# Django's admin and form classes are generic only in django-stubs; at runtime they
# cannot be subscripted, so the parametrised bases exist for the type checker only.
if TYPE_CHECKING:
    _ProductAdminFormBase = forms.ModelForm[Product]
    _ProductAdminBase = admin.ModelAdmin[Product]
    _CategoryAdminBase = admin.ModelAdmin[Category]
else:
    _ProductAdminFormBase = forms.ModelForm
    _ProductAdminBase = admin.ModelAdmin
    _CategoryAdminBase = admin.ModelAdmin

RESTOCK_QUANTITY = 10

_FIELD_MAP = {  # service keyword -> model field
    "sku": "sku",
    "name": "nm",
    "description": "descr",
    "price": "prc",
    "currency": "cur",
    "category": "category",
    "status": "st",
    "weight_grams": "wt",
}


class ProductAdminForm(_ProductAdminFormBase):
    stock = forms.IntegerField(
        min_value=0,
        required=False,
        help_text="Stock on hand. A change is recorded as a stock move (stock-take).",
    )

    class Meta:
        model = Product
        fields = ("sku", "nm", "descr", "category", "prc", "cur", "st", "attrs", "wt")
        help_texts = {"attrs": "Legacy format: key=value;key=value"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["stock"].initial = self.instance.qty

    def validate_unique(self) -> None:
        """SKU uniqueness is checked below on normalised SKUs, as the service does."""

    def clean_sku(self) -> str:
        sku = services.normalize_sku(self.cleaned_data["sku"])
        clash = Product.objects.annotate(norm=Upper(Trim("sku"))).filter(norm=sku)
        if self.instance.pk:
            if sku == services.normalize_sku(self.instance.sku):
                return self.instance.sku  # an untouched legacy sku stays as it is
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(f"A product with SKU {sku} already exists.")
        return sku

    def clean_prc(self) -> Any:
        price = self.cleaned_data["prc"]
        if price is not None and price < 0:
            raise ValidationError("Must not be negative.")
        return price

    def clean_cur(self) -> str:
        currency = (self.cleaned_data.get("cur") or "").strip().upper()
        if currency not in settings.SHOP_CURRENCIES:
            raise ValidationError(f"Use one of {', '.join(settings.SHOP_CURRENCIES)}.")
        return currency


class ProductAdmin(_ProductAdminBase):
    form = ProductAdminForm
    list_display = ("sku", "nm", "category", "prc", "cur", "st", "qty", "updated")
    list_filter = ("st", "category")
    search_fields = ("sku", "nm")
    list_select_related = ("category",)
    readonly_fields = ("created", "updated")
    list_per_page = 50
    show_full_result_count = False  # 100k rows: skip the second COUNT(*)
    actions = ("make_active", "make_hidden", "make_discontinued", "restock")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # soft delete only: use "Mark discontinued"

    # Once the catalog service owns catalog writes (step 4) the admin stays the place
    # staff look products up, read-only, and says where edits go now: a form that saves
    # nothing would be worse than none.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return not catalog_writes_frozen() and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not catalog_writes_frozen() and super().has_change_permission(request, obj)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if catalog_writes_frozen():
            messages.info(request, format_html(
                "Products are edited in the catalog service now; this list is read-only. "
                'Staff API: <a href="{0}">{0}</a>.', settings.CATALOG_STAFF_URL,
            ))  # fmt: skip
        return super().changelist_view(request, extra_context)

    def _actor(self, request: HttpRequest) -> str:
        return f"admin:{request.user.get_username()}"

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        data = form.cleaned_data
        attributes = parse_attrs(data.get("attrs") or "")
        try:
            if change:
                current = Product.objects.get(pk=obj.pk)
                changes: dict[str, Any] = {
                    keyword: data[field]
                    for keyword, field in _FIELD_MAP.items()
                    if field in form.changed_data
                }
                if "attrs" in form.changed_data:
                    changes["attributes"] = attributes
                if "stock" in form.changed_data and data.get("stock") is not None:
                    changes["stock"] = data["stock"]
                saved = services.product_update(
                    product=current, actor=self._actor(request), **changes
                )
            else:
                saved = services.product_create(
                    sku=data["sku"],
                    name=data["nm"],
                    description=data.get("descr") or "",
                    price=data["prc"],
                    currency=data.get("cur") or "EUR",
                    category=data.get("category"),
                    status=data.get("st") or ProductStatus.ACTIVE,
                    attributes=attributes,
                    weight_grams=data.get("wt"),
                    stock=data.get("stock") or 0,
                    actor=self._actor(request),
                )
        except DomainError as exc:
            # Validated again by the service; surface its messages instead of a 500.
            raise ValidationError(exc.detail) from exc
        obj.pk = saved.pk
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})
        obj._state.adding = False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):  # type: ignore[no-untyped-def]
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            return redirect(request.path)

    def _bulk_status(self, request: HttpRequest, queryset: QuerySet[Product], status: str) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        try:
            changed = services.product_bulk_set_status(product_ids=ids, status=status)
        except DomainError as exc:  # e.g. catalog writes moved to the catalog service
            self.message_user(request, exc.detail, messages.ERROR)
            return
        label = ProductStatus(status).label.lower()
        self.message_user(request, f"{changed} product(s) marked {label}.", messages.SUCCESS)

    @admin.action(description="Mark selected products active")
    def make_active(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        self._bulk_status(request, queryset, ProductStatus.ACTIVE)

    @admin.action(description="Mark selected products hidden")
    def make_hidden(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        self._bulk_status(request, queryset, ProductStatus.HIDDEN)

    @admin.action(description="Mark selected products discontinued (soft delete)")
    def make_discontinued(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        self._bulk_status(request, queryset, ProductStatus.DISCONTINUED)

    @admin.action(description=f"Restock selected products (+{RESTOCK_QUANTITY} each)")
    def restock(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        changed = inventory.stock_bulk_restock(
            product_ids=ids, quantity=RESTOCK_QUANTITY, ref=self._actor(request)
        )
        self.message_user(
            request, f"Restocked {changed} product(s) by {RESTOCK_QUANTITY}.", messages.SUCCESS
        )


class CategoryAdmin(_CategoryAdminBase):
    list_display = ("name", "slug", "parent", "sort_order")
    list_filter = ("parent",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                saved = services.category_update(
                    category=Category.objects.get(pk=obj.pk),
                    name=data["name"],
                    slug=data["slug"],
                    parent=data.get("parent"),
                    sort_order=data.get("sort_order") or 0,
                )
            else:
                saved = services.category_create(
                    name=data["name"],
                    slug=data["slug"],
                    parent=data.get("parent"),
                    sort_order=data.get("sort_order") or 0,
                )
        except DomainError as exc:
            raise ValidationError(exc.detail) from exc
        obj.pk = saved.pk
        obj._state.adding = False


admin.site.register(Product, ProductAdmin)
admin.site.register(Category, CategoryAdmin)
