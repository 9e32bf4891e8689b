import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from shop.cart import services
from shop.cart.models import Cart, CartItem
from shop.cart.selectors import cart_summary
from shop.core.errors import InsufficientStock, NotFound, ValidationFailed


@pytest.fixture
def guest_cart(db):
    from django.contrib.auth.models import AnonymousUser

    return services.cart_get_or_create(user=AnonymousUser(), session=SessionStore())


@pytest.mark.django_db
class TestCart:
    def test_add_by_id_and_sku_adds_up(self, guest_cart, product):
        services.cart_add_item(cart=guest_cart, product_id=product.pk, quantity=2)
        services.cart_add_item(cart=guest_cart, sku=" mug-red ", quantity=1)
        assert CartItem.objects.get(cart=guest_cart).qty == 3
        summary = cart_summary(cart=guest_cart)
        assert (summary.count, str(summary.total)) == (3, "37.50")

    @pytest.mark.parametrize("quantity", [0, -1, 1000, 2.5, True])
    def test_bad_quantity(self, guest_cart, product, quantity):
        with pytest.raises(ValidationFailed):
            services.cart_add_item(cart=guest_cart, product_id=product.pk, quantity=quantity)

    def test_more_than_stock(self, guest_cart, product):
        with pytest.raises(InsufficientStock):
            services.cart_add_item(cart=guest_cart, product_id=product.pk, quantity=8)

    def test_hidden_or_unknown_product(self, guest_cart, make_product):
        hidden = make_product(status="H")
        with pytest.raises(NotFound):
            services.cart_add_item(cart=guest_cart, product_id=hidden.pk, quantity=1)
        with pytest.raises(NotFound):
            services.cart_add_item(cart=guest_cart, sku="NOPE", quantity=1)

    def test_set_and_remove(self, guest_cart, product):
        services.cart_add_item(cart=guest_cart, product_id=product.pk, quantity=1)
        services.cart_set_quantity(cart=guest_cart, product_id=product.pk, quantity=5)
        assert CartItem.objects.get(cart=guest_cart).qty == 5
        services.cart_remove_item(cart=guest_cart, product_id=product.pk)
        with pytest.raises(NotFound):
            services.cart_remove_item(cart=guest_cart, product_id=product.pk)
        with pytest.raises(NotFound):
            services.cart_set_quantity(cart=guest_cart, product_id=product.pk, quantity=1)

    def test_merge_adds_quantities(self, customer, product, make_product):
        other = make_product(stock=50)
        mine = services.cart_get_or_create(user=customer, session=SessionStore())
        services.cart_add_item(cart=mine, product_id=product.pk, quantity=1)
        guest = Cart.objects.create()
        services.cart_add_item(cart=guest, product_id=product.pk, quantity=2)
        services.cart_add_item(cart=guest, product_id=other.pk, quantity=4)
        services.cart_merge(source=guest, target=mine)
        assert dict(mine.items.values_list("product_id", "qty")) == {product.pk: 3, other.pk: 4}
        assert not Cart.objects.filter(pk=guest.pk).exists()


@pytest.mark.django_db
def test_guest_cart_survives_login(customer, product):
    client = Client()
    response = client.post("/cart/add/", {"product_id": product.pk, "quantity": 2})
    assert response.status_code == 302
    assert client.login(username="alice", password="test-pass-123")
    cart = Cart.objects.get(user=customer)
    assert list(cart.items.values_list("product_id", "qty")) == [(product.pk, 2)]
    assert not Cart.objects.filter(user__isnull=True).exists()
