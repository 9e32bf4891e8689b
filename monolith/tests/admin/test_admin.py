import pytest
from django.contrib.auth.models import User
from django.test import Client
from shop.catalog.models import Product
from shop.inventory.models import StockMove
from shop.orders.models import Order
from shop.orders.services import checkout


@pytest.fixture
def admin_browser(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def superuser_browser(db):
    user = User.objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
class TestAdminPages:
    @pytest.mark.parametrize(
        "path",
        [
            "/admin/",
            "/admin/catalog/product/",
            "/admin/catalog/product/add/",
            "/admin/catalog/category/",
            "/admin/catalog/category/add/",
            "/admin/orders/order/",
            "/admin/inventory/stockmove/",
            "/admin/payments/payment/",
            "/admin/customers/customer/",
            "/admin/cart/cart/",
            "/admin/catalog/product/?st__exact=H",
            "/admin/catalog/product/?q=mug",
        ],
    )
    def test_pages_load(self, admin_browser, product, path):
        assert admin_browser.get(path).status_code == 200

    def test_change_pages(self, admin_browser, product, categories):
        assert admin_browser.get(f"/admin/catalog/product/{product.pk}/change/").status_code == 200
        assert (
            admin_browser.get(
                f"/admin/catalog/category/{categories['cups'].pk}/change/"
            ).status_code
            == 200
        )
        move = StockMove.objects.first()
        assert admin_browser.get(f"/admin/inventory/stockmove/{move.pk}/change/").status_code == 200

    def test_superuser_index(self, superuser_browser, product):
        assert superuser_browser.get("/admin/catalog/product/").status_code == 200

    def test_anonymous_redirected(self, client, db):
        assert client.get("/admin/catalog/product/").status_code == 302


def product_form(product, **overrides):
    data = {
        "sku": product.sku,
        "nm": product.nm,
        "descr": product.descr,
        "category": product.category_id or "",
        "prc": str(product.prc),
        "cur": product.cur,
        "st": product.st,
        "attrs": product.attrs,
        "wt": product.wt or "",
        "stock": product.qty,
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
class TestAdminWrites:
    def test_bulk_status_actions(self, admin_browser, make_product):
        ids = [make_product().pk for _ in range(3)]
        response = admin_browser.post(
            "/admin/catalog/product/", {"action": "make_hidden", "_selected_action": ids}
        )
        assert response.status_code == 302
        assert set(Product.objects.filter(pk__in=ids).values_list("st", flat=True)) == {"H"}
        admin_browser.post(
            "/admin/catalog/product/", {"action": "make_discontinued", "_selected_action": ids[:1]}
        )
        assert Product.objects.get(pk=ids[0]).st == "D"

    def test_bulk_restock_writes_moves(self, admin_browser, make_product):
        products = [make_product(stock=1) for _ in range(2)]
        admin_browser.post(
            "/admin/catalog/product/",
            {"action": "restock", "_selected_action": [p.pk for p in products]},
        )
        for p in products:
            assert Product.objects.get(pk=p.pk).qty == 11
            assert StockMove.objects.filter(product=p, reason="restock", ref="admin:clerk").exists()

    def test_add_through_service(self, admin_browser, categories):
        response = admin_browser.post(
            "/admin/catalog/product/add/",
            {
                "sku": " adm-1 ",
                "nm": "Admin made",
                "descr": "",
                "category": categories["mugs"].pk,
                "prc": "3.00",
                "cur": "eur",
                "st": "A",
                "attrs": "color=green",
                "wt": "",
                "stock": "4",
            },
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        product = Product.objects.get(sku="ADM-1")
        assert (product.cur, product.qty) == ("EUR", 4)
        assert StockMove.objects.get(product=product).reason == "initial"

    def test_change_through_service(self, admin_browser, product):
        response = admin_browser.post(
            f"/admin/catalog/product/{product.pk}/change/",
            product_form(product, prc="8.00", stock=2),
        )
        assert response.status_code == 302
        product.refresh_from_db()
        assert (str(product.prc), product.qty) == ("8.00", 2)
        assert StockMove.objects.filter(product=product, reason="adjust", delta=-5).exists()

    def test_validation_errors_shown(self, admin_browser, product, make_product):
        other = make_product(sku="OTHER-9")
        response = admin_browser.post(
            f"/admin/catalog/product/{other.pk}/change/",
            product_form(other, sku="mug-red", prc="-1"),
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "already exists" in html
        assert "Must not be negative" in html

    def test_no_hard_delete(self, admin_browser, product):
        assert admin_browser.get(f"/admin/catalog/product/{product.pk}/delete/").status_code == 403

    def test_order_status_through_pipeline(self, admin_browser, product):
        from django.contrib.auth.models import AnonymousUser
        from django.contrib.sessions.backends.db import SessionStore
        from shop.cart.services import cart_add_item, cart_get_or_create
        from shop.orders.services import ShippingAddress

        cart = cart_get_or_create(user=AnonymousUser(), session=SessionStore())
        cart_add_item(cart=cart, product_id=product.pk, quantity=1)
        order = checkout(
            cart=cart,
            email="a@example.com",
            card_number="4242424242424242",
            address=ShippingAddress(name="n", line1="l", city="c", zip="z", country="DE"),
        ).order
        url = f"/admin/orders/order/{order.pk}/change/"
        inlines = {
            "lines-TOTAL_FORMS": 1,
            "lines-INITIAL_FORMS": 1,
            "lines-0-id": order.lines.get().pk,
            "lines-0-order": order.pk,
            "payments-TOTAL_FORMS": 1,
            "payments-INITIAL_FORMS": 1,
            "payments-0-id": order.payments.get().pk,
            "payments-0-order": order.pk,
        }
        assert admin_browser.get(url).status_code == 200
        response = admin_browser.post(url, {"status": "delivered", **inlines})
        assert response.status_code == 200  # not allowed from paid
        assert Order.objects.get(pk=order.pk).status == "paid"
        response = admin_browser.post(url, {"status": "cancelled", **inlines})
        assert response.status_code == 302
        assert Order.objects.get(pk=order.pk).status == "cancelled"
        assert Product.objects.get(pk=product.pk).qty == 7
        admin_browser.post(
            "/admin/orders/order/", {"action": "mark_shipped", "_selected_action": [order.pk]}
        )
        assert Order.objects.get(pk=order.pk).status == "cancelled"
