from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from shop.cart.models import CartItem
from shop.cart.services import cart_add_item, cart_get_or_create
from shop.catalog.models import Product
from shop.catalog.services import product_set_status
from shop.core.errors import (
    EmptyCart,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidCard,
    PaymentDeclined,
    ProductUnavailable,
    ValidationFailed,
)
from shop.inventory.models import StockMove
from shop.inventory.services import stock_set
from shop.orders.models import Order
from shop.orders.services import checkout
from shop.payments.models import Payment

from .conftest import DECLINED_CARD, GOOD_CARD


def qty(product):
    return Product.objects.get(pk=product.pk).qty


def run(cart, address, card=GOOD_CARD, **kwargs):
    kwargs.setdefault("email", "alice@example.com")
    return checkout(cart=cart, address=address, card_number=card, **kwargs)


@pytest.mark.django_db
class TestCheckout:
    def test_success(self, filled_cart, address, product):
        result = run(filled_cart, address)
        order = result.order
        assert not result.replayed
        assert order.status == "paid"
        assert order.total == Decimal("28.00")
        assert (order.ship_country, order.user) == ("DE", None)
        assert [
            (line.sku, line.name, line.unit_price, line.qty)
            for line in order.lines.order_by("product_id")
        ] == [
            ("MUG-RED", "Red Mug", Decimal("12.50"), 2),
            (filled_cart.second.sku, "Test Mug", Decimal("3.00"), 1),
        ]
        assert qty(product) == 5
        assert qty(filled_cart.second) == 3
        assert StockMove.objects.filter(reason="sale", ref=f"order:{order.pk}").count() == 2
        payment = Payment.objects.get(order=order)
        assert (payment.status, payment.amount, payment.card_last4) == (
            "captured",
            Decimal("28.00"),
            "4242",
        )
        assert not CartItem.objects.filter(cart=filled_cart).exists()

    def test_lines_copy_product_data(self, filled_cart, address, product):
        order = run(filled_cart, address).order
        Product.objects.filter(pk=product.pk).update(nm="Renamed", prc=99)
        line = order.lines.get(product=product)
        assert (line.name, line.unit_price) == ("Red Mug", Decimal("12.50"))

    def test_declined_cancels_order_and_releases_stock(self, filled_cart, address, product):
        with pytest.raises(PaymentDeclined) as info:
            run(filled_cart, address, card=DECLINED_CARD)
        assert info.value.status == 402
        order = Order.objects.get(pk=info.value.order_id)
        assert order.status == "cancelled"
        assert qty(product) == 7
        assert qty(filled_cart.second) == 4
        moves = list(
            StockMove.objects.filter(ref=f"order:{order.pk}").values_list("reason", flat=True)
        )
        assert sorted(moves) == ["cancel", "cancel", "sale", "sale"]
        assert Payment.objects.get(order=order).status == "declined"
        assert CartItem.objects.filter(cart=filled_cart).count() == 2  # kept for another try

    def test_insufficient_funds(self, filled_cart, address):
        with pytest.raises(PaymentDeclined) as info:
            run(filled_cart, address, card="4000000000009995")
        assert info.value.reason == "insufficient_funds"
        assert "insufficient funds" in info.value.detail

    def test_invalid_card_writes_nothing(self, filled_cart, address):
        with pytest.raises(InvalidCard) as info:
            run(filled_cart, address, card="1234")
        assert "card_number" in info.value.errors
        assert not Order.objects.exists()

    def test_empty_cart(self, address, db):
        cart = cart_get_or_create(user=AnonymousUser(), session=SessionStore())
        with pytest.raises(EmptyCart):
            run(cart, address)
        assert not Order.objects.exists()

    def test_insufficient_stock_writes_nothing(self, filled_cart, address, product):
        stock_set(product_id=product.pk, quantity=1, ref="shrinkage")
        moves_before = StockMove.objects.count()
        with pytest.raises(InsufficientStock) as info:
            run(filled_cart, address)
        assert info.value.available == 1
        assert not Order.objects.exists()
        assert not Payment.objects.exists()
        assert StockMove.objects.count() == moves_before
        assert qty(filled_cart.second) == 4

    def test_unavailable_product(self, filled_cart, address, product):
        product_set_status(product=product, status="D")
        with pytest.raises(ProductUnavailable):
            run(filled_cart, address)

    def test_invalid_address(self, filled_cart, address):
        with pytest.raises(ValidationFailed) as info:
            run(filled_cart, address, email="not-an-email", card="1")
        assert {"email", "card_number"} <= set(info.value.errors)

    def test_user_checkout(self, customer, product, address):
        cart = cart_get_or_create(user=customer, session=SessionStore())
        cart_add_item(cart=cart, product_id=product.pk, quantity=1)
        order = run(cart, address, user=customer).order
        assert order.user == customer


@pytest.mark.django_db
class TestIdempotency:
    def test_same_key_replays_same_order(self, filled_cart, address, product):
        first = run(filled_cart, address, idempotency_key="key-1")
        second = run(filled_cart, address, idempotency_key="key-1")
        assert second.replayed
        assert second.order.pk == first.order.pk
        assert Order.objects.count() == 1
        assert Payment.objects.count() == 1
        assert qty(product) == 5

    def test_replay_even_after_cart_changed(self, filled_cart, address, product):
        first = run(filled_cart, address, idempotency_key="key-2")
        cart_add_item(cart=filled_cart, product_id=product.pk, quantity=1)
        assert run(filled_cart, address, idempotency_key="key-2").order.pk == first.order.pk
        assert qty(product) == 5

    def test_declined_replays_decline(self, filled_cart, address):
        with pytest.raises(PaymentDeclined) as first:
            run(filled_cart, address, card=DECLINED_CARD, idempotency_key="key-3")
        with pytest.raises(PaymentDeclined) as second:
            run(filled_cart, address, card=GOOD_CARD, idempotency_key="key-3")
        assert first.value.order_id == second.value.order_id
        assert Payment.objects.count() == 1

    def test_key_of_someone_else(self, filled_cart, address):
        run(filled_cart, address, idempotency_key="key-4")
        with pytest.raises(IdempotencyKeyReused):
            run(filled_cart, address, idempotency_key="key-4", email="mallory@example.com")
