"""The orders domain: events (``events``) and the order they fold into (``order``).

The order's published shape (statuses, lines, payments, the snapshot) is the ACL's
language (``acl.orders.domain``), re-exported here, so the service and the translators
agree on it without the ACL importing the service.
"""

from acl.orders.domain import (
    Cart,
    CartLine,
    CartUser,
    Money,
    OrderLine,
    OrderSnapshot,
    OrderStatus,
    Payment,
    PaymentStatus,
    ShippingAddress,
)

__all__ = [
    "Cart",
    "CartLine",
    "CartUser",
    "Money",
    "OrderLine",
    "OrderSnapshot",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "ShippingAddress",
]
