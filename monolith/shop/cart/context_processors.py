from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from shop.cart.selectors import cart_count
from shop.cart.services import cart_find


def cart(request: HttpRequest) -> dict[str, object]:
    """``cart_count`` for the header; lazy, so pages that do not show it pay nothing."""

    def count() -> int:
        if not hasattr(request, "session") or not hasattr(request, "user"):
            return 0
        return cart_count(cart=cart_find(user=request.user, session=request.session))

    return {"cart_count": SimpleLazyObject(count)}
