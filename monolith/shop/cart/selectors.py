from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shop.cart.models import Cart
from shop.catalog.models import Product


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def unit_price(self) -> Decimal:
        return self.product.prc

    @property
    def line_total(self) -> Decimal:
        return self.product.prc * self.quantity

    @property
    def available(self) -> bool:
        return self.product.is_active and self.product.qty >= self.quantity


@dataclass(frozen=True)
class CartSummary:
    cart_id: int | None
    lines: tuple[CartLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def currency(self) -> str:
        currencies = {line.product.cur.strip().upper() for line in self.lines}
        return currencies.pop() if len(currencies) == 1 else "EUR"

    @property
    def is_empty(self) -> bool:
        return not self.lines


def cart_summary(*, cart: Cart | None) -> CartSummary:
    if cart is None:
        return CartSummary(cart_id=None, lines=())
    items = cart.items.select_related("product").order_by("id")
    return CartSummary(
        cart_id=cart.pk,
        lines=tuple(CartLine(product=item.product, quantity=item.qty) for item in items),
    )


def cart_count(*, cart: Cart | None) -> int:
    if cart is None:
        return 0
    return sum(cart.items.values_list("qty", flat=True))
