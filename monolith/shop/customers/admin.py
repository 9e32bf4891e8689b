from django.contrib import admin

from shop.customers.models import Address, Customer


class AddressInline(admin.TabularInline):
    model = Address
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("user", "phone", "marketing_opt_in")
    list_filter = ("marketing_opt_in",)
    search_fields = ("user__username", "user__email", "phone")
    raw_id_fields = ("user",)
    inlines = (AddressInline,)
