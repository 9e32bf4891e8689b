"""Order admin: status changes go through ``order_transition`` (the one pipeline).

Once the orders service owns orders (step 5, ``shop.orders.ownership``) the admin stays
the place staff look orders up, read-only: no status form, no bulk actions, and a note
that says where orders change now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from shop.core.errors import DomainError
from shop.orders.models import Order, OrderLine, OrderStatus
from shop.orders.ownership import orders_writes_frozen
from shop.orders.services import order_bulk_transition, order_transition
from shop.payments.models import Payment

# Django's admin and form classes are generic only in django-stubs; at runtime they
# cannot be subscripted, so the parametrised bases exist for the type checker only.
if TYPE_CHECKING:
    _OrderLineInlineBase = admin.TabularInline[OrderLine, Order]
    _PaymentInlineBase = admin.TabularInline[Payment, Order]
    _OrderAdminFormBase = forms.ModelForm[Order]
    _OrderAdminBase = admin.ModelAdmin[Order]
else:
    _OrderLineInlineBase = admin.TabularInline
    _PaymentInlineBase = admin.TabularInline
    _OrderAdminFormBase = forms.ModelForm
    _OrderAdminBase = admin.ModelAdmin


class OrderLineInline(_OrderLineInlineBase):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ("sku", "name", "unit_price", "qty", "product")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PaymentInline(_PaymentInlineBase):
    model = Payment
    extra = 0
    can_delete = False
    fields = ("amount", "cur", "status", "gateway_ref", "decline_code", "created")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderAdminForm(_OrderAdminFormBase):
    class Meta:
        model = Order
        fields = ("status",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "status" in self.fields:  # read-only while orders are frozen
            allowed = {self.instance.status, *self.instance.allowed_next_statuses()}
            # A model field with choices gets a (Typed)ChoiceField; ``fields`` is typed as Field.
            status_field = cast(forms.ChoiceField, self.fields["status"])
            status_field.choices = [c for c in OrderStatus.choices if c[0] in allowed]

    def clean_status(self) -> str:
        status: str = self.cleaned_data["status"]
        current = Order.objects.get(pk=self.instance.pk) if self.instance.pk else None
        if (
            current is not None
            and status != current.status
            and not current.can_transition_to(status)
        ):
            raise forms.ValidationError(f"Cannot change from {current.status} to {status}.")
        return status


@admin.register(Order)
class OrderAdmin(_OrderAdminBase):
    form = OrderAdminForm
    list_display = ("id", "email", "status", "total", "cur", "created")
    list_filter = ("status",)
    search_fields = ("=id", "email", "ship_name")
    date_hierarchy = "created"
    readonly_fields = (
        "user",
        "email",
        "total",
        "cur",
        "ship_name",
        "ship_line1",
        "ship_line2",
        "ship_city",
        "ship_zip",
        "ship_country",
        "created",
        "updated",
    )
    fields = ("status", *readonly_fields)
    inlines = (OrderLineInline, PaymentInline)
    actions = ("mark_shipped", "mark_delivered", "mark_cancelled")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come from checkout

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # The status form and the bulk actions (which need the change permission) disappear
    # while orders are frozen here.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not orders_writes_frozen() and super().has_change_permission(request, obj)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if orders_writes_frozen():
            messages.info(request, format_html(
                "Orders are placed and changed in the orders service now; this list is "
                'read-only. Staff API: <a href="{0}">{0}</a>.', settings.ORDERS_STAFF_URL,
            ))  # fmt: skip
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        if "status" in form.changed_data:
            current = Order.objects.get(pk=obj.pk)
            order_transition(
                order=current, to_status=form.cleaned_data["status"], actor=f"admin:{request.user}"
            )

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Order], status: str) -> None:
        try:
            done, problems = order_bulk_transition(
                order_ids=list(queryset.values_list("pk", flat=True)),
                to_status=status,
                actor=f"admin:{request.user}",
            )
        except DomainError as exc:  # e.g. orders moved to the orders service meanwhile
            self.message_user(request, exc.detail, messages.ERROR)
            return
        self.message_user(request, f"{done} order(s) now {status}.", messages.SUCCESS)
        for problem in problems[:10]:
            self.message_user(request, problem, messages.WARNING)

    @admin.action(description="Mark selected orders shipped", permissions=["change"])
    def mark_shipped(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._bulk(request, queryset, OrderStatus.SHIPPED)

    @admin.action(description="Mark selected orders delivered", permissions=["change"])
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._bulk(request, queryset, OrderStatus.DELIVERED)

    @admin.action(description="Cancel selected orders (releases stock)", permissions=["change"])
    def mark_cancelled(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._bulk(request, queryset, OrderStatus.CANCELLED)
