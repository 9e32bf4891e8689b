from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from shop.inventory.models import StockMove

# Django's admin and form classes are generic only in django-stubs; at runtime they
# cannot be subscripted, so the parametrised bases exist for the type checker only.
if TYPE_CHECKING:
    _StockMoveAdminBase = admin.ModelAdmin[StockMove]
else:
    _StockMoveAdminBase = admin.ModelAdmin


@admin.register(StockMove)
class StockMoveAdmin(_StockMoveAdminBase):
    """The stock ledger: read-only (moves are written by inventory services only)."""

    list_display = ("id", "product", "delta", "reason", "ref", "created")
    list_filter = ("reason",)
    search_fields = ("product__sku", "ref")
    list_select_related = ("product",)
    raw_id_fields = ("product",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
