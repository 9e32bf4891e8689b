from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from shop.payments.models import Payment

# Django's admin and form classes are generic only in django-stubs; at runtime they
# cannot be subscripted, so the parametrised bases exist for the type checker only.
if TYPE_CHECKING:
    _PaymentAdminBase = admin.ModelAdmin[Payment]
else:
    _PaymentAdminBase = admin.ModelAdmin


@admin.register(Payment)
class PaymentAdmin(_PaymentAdminBase):
    """Read-only: payments change only through checkout and the order pipeline."""

    list_display = ("id", "order", "amount", "cur", "status", "gateway_ref", "created")
    list_filter = ("status",)
    search_fields = ("gateway_ref", "idempotency_key", "order__email")
    list_select_related = ("order",)

    def has_add_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        return False
