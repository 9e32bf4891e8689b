from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Prefetch, QuerySet

from shop.core.errors import NotFound
from shop.orders.models import Order, OrderLine


def _with_details(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id")), "payments"
    )


def order_list(*, user: User | AnonymousUser) -> QuerySet[Order]:
    """Own orders, newest first; staff see every order."""
    if not user.is_authenticated:
        return Order.objects.none()
    orders = (
        Order.objects.all() if getattr(user, "is_staff", False) else Order.objects.filter(user=user)
    )
    return _with_details(orders.order_by("-id"))


def order_get(
    *,
    order_id: int,
    user: User | AnonymousUser,
    guest_order_ids: Iterable[int] = (),
) -> Order:
    """One order the caller may see: their own, any for staff, or one this guest session placed.

    Others' orders are reported as missing (404), not forbidden, so ids do not leak.
    """
    order = _with_details(Order.objects.filter(pk=order_id)).first()
    if order is None:
        raise NotFound(f"Order {order_id} not found.")
    if getattr(user, "is_staff", False):
        return order
    if user.is_authenticated and order.user_id == user.pk:
        return order
    if order.user_id is None and order.pk in set(guest_order_ids):
        return order
    raise NotFound(f"Order {order_id} not found.")
