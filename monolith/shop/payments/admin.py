from django.contrib import admin

from shop.payments.models import Payment


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    """Read-only: payments change only through checkout and the order pipeline."""

    list_display = ("id", "order", "amount", "cur", "status", "gateway_ref", "created")
    list_filter = ("status",)
    search_fields = ("gateway_ref", "idempotency_key", "order__email")
    list_select_related = ("order",)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
