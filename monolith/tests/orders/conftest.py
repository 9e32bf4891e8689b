from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from shop.cart.services import cart_add_item, cart_get_or_create
from shop.orders.services import ShippingAddress

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
ADDRESS = ShippingAddress(
    name="Alice A", line1="Hauptstr. 1", city="Berlin", zip="10115", country="de"
)


@pytest.fixture
def address() -> ShippingAddress:
    return ADDRESS


@pytest.fixture
def filled_cart(product, make_product):
    """A guest cart: 2 x Red Mug (12.50) + 1 x a 3.00 product."""
    cart = cart_get_or_create(user=AnonymousUser(), session=SessionStore())
    second = make_product(price="3.00", stock=4)
    cart_add_item(cart=cart, product_id=product.pk, quantity=2)
    cart_add_item(cart=cart, product_id=second.pk, quantity=1)
    cart.second = second
    return cart
