from typing import TYPE_CHECKING

from django.contrib import admin

from shop.customers.models import Address, Customer

# Django's admin and form classes are generic only in django-stubs; at runtime they
# cannot be subscripted, so the parametrised bases exist for the type checker only.
if TYPE_CHECKING:
    _AddressInlineBase = admin.TabularInline[Address, Customer]
    _CustomerAdminBase = admin.ModelAdmin[Customer]
else:
    _AddressInlineBase = admin.TabularInline
    _CustomerAdminBase = admin.ModelAdmin


class AddressInline(_AddressInlineBase):
    model = Address
    extra = 0


@admin.register(Customer)
class CustomerAdmin(_CustomerAdminBase):
    list_display = ("user", "phone", "marketing_opt_in")
    list_filter = ("marketing_opt_in",)
    search_fields = ("user__username", "user__email", "phone")
    raw_id_fields = ("user",)
    inlines = (AddressInline,)
