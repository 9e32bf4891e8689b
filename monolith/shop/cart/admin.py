from typing import TYPE_CHECKING

from django.contrib import admin

from shop.cart.models import Cart, CartItem

# Django's admin and form classes are generic only in django-stubs; at runtime they
# cannot be subscripted, so the parametrised bases exist for the type checker only.
if TYPE_CHECKING:
    _CartItemInlineBase = admin.TabularInline[CartItem, Cart]
    _CartAdminBase = admin.ModelAdmin[Cart]
else:
    _CartItemInlineBase = admin.TabularInline
    _CartAdminBase = admin.ModelAdmin


class CartItemInline(_CartItemInlineBase):
    model = CartItem
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Cart)
class CartAdmin(_CartAdminBase):
    list_display = ("id", "user", "session_key", "updated")
    raw_id_fields = ("user",)
    inlines = (CartItemInline,)
