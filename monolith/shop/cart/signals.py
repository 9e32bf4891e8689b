from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest

from shop.cart.models import Cart
from shop.cart.services import SESSION_CART_ID, cart_get_or_create, cart_merge


def merge_guest_cart_on_login(
    sender: type, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    """A guest who logs in keeps what they put in the cart (merged into their own cart)."""
    if request is None or not hasattr(request, "session"):
        return
    cart_id = request.session.pop(SESSION_CART_ID, None)
    if cart_id is None:
        return
    guest = Cart.objects.filter(pk=cart_id, user__isnull=True).first()
    if guest is None or not guest.items.exists():
        if guest is not None:
            guest.delete()
        return
    target = cart_get_or_create(user=user, session=request.session)
    cart_merge(source=guest, target=target)
