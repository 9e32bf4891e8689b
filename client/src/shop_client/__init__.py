"""Typed client for the shop's public JSON API (legacy wire shape)."""

from shop_client.client import ShopClient
from shop_client.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PaymentDeclined,
    ShopAPIError,
    UnexpectedResponse,
)
from shop_client.models import (
    Cart,
    CartItem,
    Category,
    CategoryDetail,
    CategoryRef,
    CheckoutRequest,
    Order,
    Product,
    ProductPage,
)

__all__ = [
    "Cart",
    "CartItem",
    "Category",
    "CategoryDetail",
    "CategoryRef",
    "CheckoutRequest",
    "Conflict",
    "NotAuthenticated",
    "NotFound",
    "Order",
    "PaymentDeclined",
    "Product",
    "ProductPage",
    "ShopAPIError",
    "ShopClient",
    "UnexpectedResponse",
]
