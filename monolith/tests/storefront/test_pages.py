import re

import pytest
from django.test import Client
from shop.orders.models import Order


@pytest.fixture
def browser():
    return Client()


@pytest.mark.django_db
class TestPages:
    def test_product_list(self, browser, product, make_product, categories):
        make_product(name="Secret", status="H")
        page = browser.get("/")
        html = page.content.decode()
        assert page.status_code == 200
        assert "Red Mug" in html
        assert "Secret" not in html
        assert "Kitchen" in html
        assert 'href="/?category=mugs"' in html
        assert "1 product" in html

    def test_search_category_sort_and_bad_params(self, browser, product, make_product, categories):
        make_product(name="Spade", category=categories["garden"])
        assert "Red Mug" in browser.get("/", {"q": "red"}).content.decode()
        assert "Spade" not in browser.get("/", {"category": "kitchen"}).content.decode()
        html = browser.get("/", {"category": "nope", "sort": "bogus"}).content.decode()
        assert "Unknown" in html
        assert browser.get("/", {"page": "999"}).status_code == 200

    def test_pagination(self, browser, make_product):
        for _ in range(30):
            make_product()
        html = browser.get("/").content.decode()
        assert "Page 1 of 2" in html
        assert 'href="?page=2"' in html

    def test_product_page(self, browser, product):
        html = browser.get(f"/products/{product.pk}/").content.decode()
        assert "Red Mug" in html
        assert "large mug" in html
        assert 'action="/cart/add/"' in html
        assert browser.get("/products/999999/").status_code == 404

    def test_hidden_product_page(self, browser, make_product):
        hidden = make_product(status="H")
        assert browser.get(f"/products/{hidden.pk}/").status_code == 404

    def test_static_css(self, browser):
        response = browser.get("/static/shop/shop.css")
        assert response.status_code == 200
        assert b"".join(response.streaming_content).startswith(b":root")

    def test_cart_flow_and_checkout(self, browser, product):
        assert (
            browser.post("/cart/add/", {"product_id": product.pk, "quantity": 2})["Location"]
            == "/cart/"
        )
        html = browser.get("/cart/").content.decode()
        assert "Red Mug" in html
        assert "25.00" in html
        assert 'id="cart-count">2<' in html
        browser.post("/cart/update/", {"product_id": product.pk, "quantity": 3})
        assert "37.50" in browser.get("/cart/").content.decode()
        page = browser.get("/checkout/")
        assert page.status_code == 200
        key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page.content.decode()).group(
            1
        )
        form = {
            "email": "g@example.com",
            "name": "G",
            "line1": "L",
            "zip": "1",
            "city": "C",
            "country": "DE",
            "card_number": "4242424242424242",
            "idempotency_key": key,
        }
        response = browser.post("/checkout/", form)
        order = Order.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"/orders/{order.pk}/"
        assert browser.post("/checkout/", form).status_code == 302  # double submit replays
        assert Order.objects.count() == 1
        html = browser.get(f"/orders/{order.pk}/").content.decode()
        assert f"Order #{order.pk}" in html
        assert "Paid" in html
        # another browser cannot see the guest's order
        assert Client().get(f"/orders/{order.pk}/").status_code == 404

    def test_declined_message(self, browser, product):
        browser.post("/cart/add/", {"product_id": product.pk, "quantity": 1})
        form = {
            "email": "g@example.com",
            "name": "G",
            "line1": "L",
            "zip": "1",
            "city": "C",
            "country": "DE",
            "card_number": "4000 0000 0000 0002",
        }
        html = browser.post("/checkout/", form).content.decode()
        assert "Payment declined: Your card was declined" in html

    def test_checkout_form_errors(self, browser, product):
        browser.post("/cart/add/", {"product_id": product.pk, "quantity": 1})
        html = browser.post("/checkout/", {"email": "bad", "card_number": "1"}).content.decode()
        assert "Enter a valid email address" in html
        assert "This field is required" in html

    def test_bad_cart_posts_are_messages(self, browser, product):
        for form in [
            {"product_id": "x"},
            {"product_id": product.pk, "quantity": 0},
            {"product_id": 999999, "quantity": 1},
        ]:
            assert browser.post("/cart/add/", form, follow=True).status_code == 200
        assert browser.get("/cart/add/").status_code == 405

    def test_empty_checkout_redirects(self, browser, db):
        assert browser.get("/checkout/")["Location"] == "/cart/"

    def test_history_requires_login(self, browser, customer):
        response = browser.get("/orders/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
        browser.force_login(customer)
        assert "no orders yet" in browser.get("/orders/").content.decode()

    def test_login_logout_and_register(self, browser, customer):
        assert "csrfmiddlewaretoken" in browser.get("/accounts/login/").content.decode()
        assert (
            browser.post("/accounts/login/", {"username": "alice", "password": "test-pass-123"})[
                "Location"
            ]
            == "/"
        )
        assert "alice" in browser.get("/").content.decode()
        assert browser.post("/accounts/logout/").status_code == 302
        response = browser.post(
            "/accounts/register/",
            {"username": "carol", "email": "c@example.com", "password": "long-enough-1"},
        )
        assert response.status_code == 302
        html = browser.post(
            "/accounts/register/",
            {"username": "carol", "email": "c@example.com", "password": "long-enough-1"},
        ).content.decode()
        assert "taken" in html
