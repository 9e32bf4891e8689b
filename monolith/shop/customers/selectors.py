from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from shop.customers.models import Address


def address_default(*, user: User | AnonymousUser) -> Address | None:
    if not user.is_authenticated:
        return None
    return Address.objects.filter(customer__user=user).order_by("-is_default", "id").first()
