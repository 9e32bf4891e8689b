"""The last unit of stock, wanted by several checkouts at once on separate connections."""

import threading

import pytest
from django.db import connection
from django.db.models import Sum
from shop.cart.models import Cart
from shop.cart.services import cart_add_item
from shop.catalog.models import Product
from shop.catalog.services import product_create
from shop.core.errors import InsufficientStock
from shop.inventory.models import StockMove
from shop.orders.models import Order
from shop.orders.services import checkout

from .conftest import ADDRESS, GOOD_CARD

BUYERS = 6


@pytest.mark.django_db(transaction=True)
def test_only_one_checkout_gets_the_last_unit():
    product = product_create(sku="LAST-1", name="Last one", price="5.00", stock=1)
    carts = []
    for _ in range(BUYERS):
        cart = Cart.objects.create()
        cart_add_item(cart=cart, product_id=product.pk, quantity=1)
        carts.append(cart)

    barrier = threading.Barrier(BUYERS, timeout=30)
    outcomes: list[object] = []
    lock = threading.Lock()

    def buy(cart: Cart) -> None:
        try:
            barrier.wait()
            result = checkout(
                cart=cart, email="race@example.com", address=ADDRESS, card_number=GOOD_CARD
            )
            outcome: object = result.order.pk
        except Exception as exc:  # collected and asserted on below
            outcome = exc
        finally:
            connection.close()  # each thread had its own connection
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=buy, args=(cart,)) for cart in carts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    winners = [o for o in outcomes if isinstance(o, int)]
    losers = [o for o in outcomes if not isinstance(o, int)]
    assert len(winners) == 1, outcomes
    assert len(losers) == BUYERS - 1
    assert all(isinstance(o, InsufficientStock) for o in losers), losers
    assert Product.objects.get(pk=product.pk).qty == 0
    assert Order.objects.count() == 1
    ledger = StockMove.objects.filter(product=product).aggregate(s=Sum("delta"))["s"]
    assert ledger == 0
