"""The orders domain's published language: what an order is, in the service's terms.

The orders service folds its event streams into :class:`OrderSnapshot`; the translators in
:mod:`acl.orders.legacy` turn snapshots into the monolith's shapes and back. Money is an
integer in the currency's minor units; instants are aware UTC datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from acl.catalog.domain import CURRENCY_EXPONENTS, Money

__all__ = [
    "CURRENCY_EXPONENTS",
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


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # placed, stock not yet reserved: invisible
    REJECTED = "rejected"  # stock refused: never visible (legacy: never existed)
    AWAITING_PAYMENT = "awaiting_payment"  # legacy "new"
    AUTHORISED = "authorised"  # legacy "new"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class PaymentStatus(enum.StrEnum):
    AUTHORISED = "authorised"
    CAPTURED = "captured"
    DECLINED = "declined"
    VOIDED = "voided"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class ShippingAddress:
    name: str
    line1: str
    city: str
    zip: str
    country: str  # ISO 3166 alpha-2, upper case
    line2: str = ""


@dataclass(frozen=True, slots=True)
class OrderLine:
    product_id: int
    sku: str
    name: str
    unit_price_minor: int
    quantity: int

    @property
    def total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: int
    amount_minor: int
    status: PaymentStatus
    gateway_ref: str
    idempotency_key: str
    created_at: datetime
    decline_code: str = ""
    card_last4: str = ""


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """One order as of its latest event."""

    order_id: int
    user_id: int | None  # None: a guest order
    email: str
    status: OrderStatus
    currency: str
    total_minor: int
    shipping: ShippingAddress
    lines: tuple[OrderLine, ...]
    payments: tuple[Payment, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)


@dataclass(frozen=True, slots=True)
class CartUser:
    user_id: int
    email: str
    is_staff: bool


@dataclass(frozen=True, slots=True)
class CartLine:
    product_id: int
    sku: str
    name: str
    unit_price_minor: int
    currency: str
    quantity: int
    available: bool  # False: the product is no longer active


@dataclass(frozen=True, slots=True)
class Cart:
    cart_id: int | None  # None: the caller has no cart
    user: CartUser | None
    lines: tuple[CartLine, ...] = field(default=())
