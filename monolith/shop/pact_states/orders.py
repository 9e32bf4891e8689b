"""Provider states of the orders pacts: checkout, the order reads, the saga participant.

Each state wipes the catalog, carts, orders, payments, inventory commands, sessions and
users, then seeds through the shop's services (checkout, carts, inventory commands).
Ids, the guest's session key and the customer's API token are pinned by the pact's
parameters, so the replayed requests (a ``Cookie``, an ``Authorization`` header, a
reservation id) find them. Checkout is opened (the write freeze of step 5 is lifted):
the monolith is verified as the baseline implementation of ``orders``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from shop.cart.models import Cart, CartItem
from shop.cart.services import SESSION_CART_ID, cart_add_item
from shop.inventory.commands import stock_reservation_command
from shop.orders.services import ShippingAddress, checkout

_ORDER_TABLES = (
    "shop_payment", "shop_orderline", "shop_order", "shop_cartitem", "shop_cart",
    "shop_cart_command", "shop_inventory_command", "shop_stockmove", "django_session",
    "authtoken_token", "auth_user",
)  # fmt: skip
ADDRESS = ShippingAddress(name="Ada Lovelace", line1="1 Analytical Way", city="London",
                          zip="N1 7AA", country="GB")  # fmt: skip
APPROVED_CARD = "4242 4242 4242 4242"


def wipe_orders() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(_ORDER_TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute("UPDATE orders_write_freeze SET frozen = false, changed_at = now()")


def _next_id(table: str, value: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, value])


def _product(params: Mapping[str, Any], *, stock: int) -> int:
    from shop.pact_states.states import a_product_exists

    a_product_exists({
        "id": int(params.get("product_id", 42)), "sku": params.get("sku", "SKU-0042"),
        "name": params.get("name", "Espresso cup"), "price": params.get("price", "12.50"),
        "stock": stock,
    })  # fmt: skip
    return int(params.get("product_id", 42))


def _guest_cart(params: Mapping[str, Any]) -> Cart:
    """A guest cart in the session under the pact's session key (the session backend would
    pick a key of its own for a session it does not know, so the row is written here)."""
    key = str(params["session_key"])
    if "cart_id" in params:
        _next_id("shop_cart", int(params["cart_id"]))
    cart = Cart.objects.create(session_key=key)
    store = SessionStore()
    Session.objects.create(session_key=key, session_data=store.encode({SESSION_CART_ID: cart.pk}),
                           expire_date=timezone.now() + timedelta(days=1))  # fmt: skip
    return cart


def a_guest_cart_holds_products_in_stock(params: Mapping[str, Any]) -> None:
    product_id = _product(params, stock=int(params.get("stock", 5)))
    cart = _guest_cart(params)
    cart_add_item(cart=cart, product_id=product_id, quantity=int(params.get("quantity", 2)))


def a_guest_cart_holds_more_than_is_in_stock(params: Mapping[str, Any]) -> None:
    """The cart took the quantity while it was in stock; the stock went down since."""
    product_id = _product(params, stock=int(params.get("stock", 1)))
    cart = _guest_cart(params)
    CartItem.objects.create(cart=cart, product_id=product_id, qty=int(params.get("quantity", 3)))


def the_guest_has_no_cart(params: Mapping[str, Any]) -> None:
    """Nothing for the session (everything was wiped)."""


def _customer_cart(params: Mapping[str, Any]) -> tuple[User, Cart]:
    _next_id("auth_user", int(params.get("user_id", 7)))
    email = str(params.get("email", "ada@example.com"))
    user = User.objects.create_user(username="ada", email=email, password=uuid.uuid4().hex)
    Token.objects.create(user=user, key=str(params["token"]))
    product_id = _product(params, stock=int(params.get("quantity", 2)) + 5)
    cart = Cart.objects.create(user=user)
    cart_add_item(cart=cart, product_id=product_id, quantity=int(params.get("quantity", 2)))
    return user, cart


def a_customers_cart_holds_products_in_stock(params: Mapping[str, Any]) -> None:
    """A signed-in customer (API token) with a cart: what the orders service's checkout of
    that customer reads through the participant."""
    _customer_cart(params)


def a_customer_has_a_paid_order(params: Mapping[str, Any]) -> None:
    user, cart = _customer_cart(params)
    _next_id("shop_order", int(params.get("order_id", 1_000_000_042)))
    checkout(cart=cart, email=user.email, address=ADDRESS, card_number=APPROVED_CARD,
             user=user)  # fmt: skip


def products_are_in_stock(params: Mapping[str, Any]) -> None:
    _product(params, stock=int(params.get("stock", 5)))


def stock_is_reserved_for_an_order(params: Mapping[str, Any]) -> None:
    product_id = _product(params, stock=int(params.get("stock", 5)))
    stock_reservation_command(
        command_id=uuid.UUID(str(params["reservation_id"])),
        order_id=int(params.get("order_id", 1_000_000_000)),
        lines=[(product_id, int(params.get("quantity", 2)))],
    )


STATES = {
    "a guest cart holds products in stock": a_guest_cart_holds_products_in_stock,
    "a guest cart holds more than is in stock": a_guest_cart_holds_more_than_is_in_stock,
    "the guest has no cart": the_guest_has_no_cart,
    "a customer has a paid order": a_customer_has_a_paid_order,
    "a customer's cart holds products in stock": a_customers_cart_holds_products_in_stock,
    "products are in stock": products_are_in_stock,
    "stock is reserved for an order": stock_is_reserved_for_an_order,
}
