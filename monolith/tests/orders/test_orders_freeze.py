"""The checkout freeze of step 5: the orders service owns orders, the monolith refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from shop.cart.models import Cart, CartItem
from shop.catalog.models import Product
from shop.core.errors import CheckoutMoved
from shop.orders.models import Order
from shop.orders.ownership import ensure_orders_writable, orders_writes_frozen
from shop.orders.services import checkout, order_transition
from shop.payments.models import Payment

from ..api.test_checkout import FORM
from .conftest import ADDRESS, GOOD_CARD


def set_frozen(frozen: bool) -> None:
    with connection.cursor() as cur:
        cur.execute("UPDATE orders_write_freeze SET frozen = %s", [frozen])


@pytest.fixture
def frozen(db: None) -> Iterator[None]:
    set_frozen(True)
    yield
    set_frozen(False)


@pytest.fixture
def paid_order(filled_cart: Cart) -> Order:
    return checkout(
        cart=filled_cart, email="a@example.com", address=ADDRESS, card_number=GOOD_CARD
    ).order


@pytest.fixture
def admin_browser(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.django_db
def test_unfrozen_by_default() -> None:
    assert orders_writes_frozen() is False
    ensure_orders_writable()


def test_checkout_refuses_and_writes_nothing(
    filled_cart: Cart, product: Product, frozen: None
) -> None:
    with pytest.raises(CheckoutMoved) as raised:
        checkout(cart=filled_cart, email="a@example.com", address=ADDRESS, card_number=GOOD_CARD)
    assert raised.value.status == 423
    assert raised.value.slug == "checkout-moved"
    assert "orders service" in raised.value.detail
    assert (Order.objects.count(), Payment.objects.count()) == (0, 0)
    assert Product.objects.get(pk=product.pk).qty == 7
    assert CartItem.objects.filter(cart=filled_cart).count() == 2


def test_status_changes_refuse(paid_order: Order, product: Product) -> None:
    set_frozen(True)
    try:
        with pytest.raises(CheckoutMoved):
            order_transition(order=paid_order, to_status="cancelled")
    finally:
        set_frozen(False)
    assert Order.objects.get(pk=paid_order.pk).status == "paid"
    assert Product.objects.get(pk=product.pk).qty == 5


def test_api_checkout_is_a_423_problem(
    api: Any, product: Product, assert_problem: Any, frozen: None
) -> None:
    body = assert_problem(api.post("/api/checkout/", FORM, format="json"), 423)
    assert body["type"].endswith("/checkout-moved")
    assert body["title"] == "Checkout has moved to the orders service"
    assert Cart.objects.count() == 0  # not even a guest cart was created


def test_the_order_admin_is_read_only_with_a_pointer(
    admin_browser: Client, paid_order: Order
) -> None:
    set_frozen(True)
    listing = admin_browser.get("/admin/orders/order/").content.decode()
    assert "Orders are placed and changed in the orders service now" in listing
    assert f'href="{settings.ORDERS_STAFF_URL}"' in listing
    assert "mark_shipped" not in listing  # no bulk actions
    url = f"/admin/orders/order/{paid_order.pk}/change/"
    page = admin_browser.get(url)
    assert page.status_code == 200  # still there to look orders up
    assert 'name="_save"' not in page.content.decode()
    assert admin_browser.post(url, {"status": "cancelled"}).status_code == 403
    admin_browser.post(
        "/admin/orders/order/", {"action": "mark_cancelled", "_selected_action": [paid_order.pk]}
    )
    assert Order.objects.get(pk=paid_order.pk).status == "paid"


def test_a_bulk_action_racing_the_freeze_says_so(
    admin_browser: Client, paid_order: Order, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shop.orders import admin as order_admin

    # The page was rendered before the switch; the action arrives after it.
    monkeypatch.setattr(order_admin, "orders_writes_frozen", lambda: False)
    set_frozen(True)
    response = admin_browser.post(
        "/admin/orders/order/",
        {"action": "mark_shipped", "_selected_action": [paid_order.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "served by the orders service" in response.content.decode()
    assert Order.objects.get(pk=paid_order.pk).status == "paid"
