"""GET /_internal/checkout/cart and POST /_internal/checkout/cart/clear."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token
from shop.cart.models import Cart, CartCommand, CartItem
from shop.cart.services import cart_add_item, cart_get_or_create
from shop.catalog.models import Product

from ..conftest import PASSWORD
from .conftest import Internal

URL = "/_internal/checkout/cart"


def cookie_header(browser: Client) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in browser.cookies.items())


@pytest.mark.django_db
class TestCart:
    def test_a_guest_cart_from_the_forwarded_cookie(
        self, internal: Internal, product: Product, make_product: Callable[..., Product]
    ) -> None:
        hidden = make_product(price="3.00")
        browser = Client()
        browser.post("/cart/add/", {"product_id": product.pk, "quantity": 2})
        browser.post("/cart/add/", {"product_id": hidden.pk, "quantity": 1})
        Product.objects.filter(pk=hidden.pk).update(st="H", sku=f"  {hidden.sku.lower()} ")
        response = internal.client.get(URL, HTTP_COOKIE=cookie_header(browser))
        assert response.status_code == 200
        body = response.json()
        cart = Cart.objects.get()
        assert body == {
            "cart_id": cart.pk,
            "user": None,
            "items": [
                {"product_id": product.pk, "sku": "MUG-RED", "name": "Red Mug",
                 "unit_price": "12.50", "currency": "EUR", "quantity": 2, "available": True},
                {"product_id": hidden.pk, "sku": hidden.sku.lower(), "name": "Test Mug",
                 "unit_price": "3.00", "currency": "EUR", "quantity": 1, "available": False},
            ],
        }  # fmt: skip

    def test_no_cart_is_created(self, internal: Internal, customer: User) -> None:
        browser = Client()
        browser.get("/")  # a session without a cart
        for extra in ({}, {"HTTP_COOKIE": cookie_header(browser)}):
            assert internal.client.get(URL, **extra).json() == {
                "cart_id": None, "user": None, "items": []
            }  # fmt: skip
        key = Token.objects.create(user=customer).key
        body = internal.client.get(URL, HTTP_AUTHORIZATION=f"Token {key}").json()
        assert (body["cart_id"], body["items"]) == (None, [])
        assert Cart.objects.count() == 0

    def test_a_user_by_token_or_session(
        self, internal: Internal, customer: User, staff: User, product: Product
    ) -> None:
        cart = cart_get_or_create(user=customer, session=Client().session)
        cart_add_item(cart=cart, product_id=product.pk, quantity=1)
        key = Token.objects.create(user=customer).key
        body = internal.client.get(URL, HTTP_AUTHORIZATION=f"Token {key}").json()
        assert body["cart_id"] == cart.pk
        assert body["user"] == {"id": customer.pk, "email": "alice@example.com",
                                "is_staff": False}  # fmt: skip
        assert [i["product_id"] for i in body["items"]] == [product.pk]
        browser = Client()
        assert browser.login(username="clerk", password=PASSWORD)
        body = internal.client.get(URL, HTTP_COOKIE=cookie_header(browser)).json()
        assert body["user"] == {"id": staff.pk, "email": "clerk@example.com", "is_staff": True}
        assert body["cart_id"] is None

    def test_a_bad_token_is_a_401_problem(self, internal: Internal, assert_problem: Any) -> None:
        assert_problem(internal.client.get(URL, HTTP_AUTHORIZATION="Token nope"), 401)


@pytest.mark.django_db
class TestClear:
    def clear(self, internal: Internal, cart_id: int, command_id: str) -> dict[str, Any]:
        response = internal.post(
            "/_internal/checkout/cart/clear", {"command_id": command_id, "cart_id": cart_id}
        )
        assert response.status_code == 200, response.content
        body: dict[str, Any] = response.json()
        return body

    def test_clears_once_and_replays(self, internal: Internal, product: Product) -> None:
        cart = Cart.objects.create()
        cart_add_item(cart=cart, product_id=product.pk, quantity=2)
        command = str(uuid.uuid4())
        assert self.clear(internal, cart.pk, command) == {
            "command_id": command, "outcome": "cleared", "replayed": False
        }  # fmt: skip
        assert not CartItem.objects.filter(cart=cart).exists()
        cart_add_item(cart=cart, product_id=product.pk, quantity=1)  # filled again since
        assert self.clear(internal, cart.pk, command) == {
            "command_id": command, "outcome": "cleared", "replayed": True
        }  # fmt: skip
        assert CartItem.objects.filter(cart=cart).count() == 1

    def test_no_cart(self, internal: Internal) -> None:
        command = str(uuid.uuid4())
        body = self.clear(internal, 424242, command)
        assert (body["outcome"], body["replayed"]) == ("no_cart", False)
        assert self.clear(internal, 424242, command)["replayed"] is True
        assert CartCommand.objects.count() == 1

    def test_the_same_command_for_another_cart_is_a_conflict(
        self, internal: Internal, assert_problem: Any
    ) -> None:
        command = str(uuid.uuid4())
        self.clear(internal, 1, command)
        response = internal.post(
            "/_internal/checkout/cart/clear", {"command_id": command, "cart_id": 2}
        )
        assert_problem(response, 409)
