"""Real HTTP against a running shop: what a customer and a clerk do in a browser."""

from __future__ import annotations

import re

from .conftest import PASSWORD, Browser

CHECKOUT = {
    "email": "guest@example.com",
    "name": "Gina Guest",
    "line1": "Lindenallee 5",
    "line2": "",
    "zip": "10115",
    "city": "Berlin",
    "country": "DE",
}


def add_to_cart(browser: Browser, product_id: int, quantity: int = 1) -> None:
    assert browser.get(f"/products/{product_id}/").status_code == 200
    response = browser.post_form("/cart/add/", {"product_id": product_id, "quantity": quantity})
    assert response.status_code == 302
    assert response.headers["Location"] == "/cart/"  # relative: works behind a proxy
    browser.follow(response)


def checkout(browser: Browser, card: str, **overrides: str):
    page = browser.get("/checkout/")
    assert page.status_code == 200
    key = browser.hidden("idempotency_key")
    return browser.post_form(
        "/checkout/", {**CHECKOUT, **overrides, "card_number": card, "idempotency_key": key}
    )


def login(browser: Browser, username: str, path: str = "/accounts/login/", **extra: str) -> None:
    assert browser.get(path).status_code == 200
    response = browser.post_form(path, {"username": username, "password": PASSWORD, **extra})
    assert response.status_code == 302, response.text[:500]
    browser.follow(response)


def test_guest_browses_searches_buys(browser, shop_data):
    home = browser.get("/")
    assert home.status_code == 200
    assert "Enamel Camping Mug" in home.text
    assert "Brass Desk Lamp" in home.text
    assert "/static/shop/shop.css" in home.text
    assert browser.get("/static/shop/shop.css").status_code == 200

    results = browser.get("/", params={"q": "enamel"})
    assert "Enamel Camping Mug" in results.text
    assert "Brass Desk Lamp" not in results.text
    by_category = browser.get("/", params={"category": "kitchen"})
    assert "Enamel Camping Mug" in by_category.text
    assert "Brass Desk Lamp" not in by_category.text

    mug = shop_data["mug"]
    add_to_cart(browser, mug.pk, 2)
    assert "Enamel Camping Mug" in browser.page
    assert "19.80" in browser.page

    response = checkout(browser, "4242 4242 4242 4242")
    assert response.status_code == 302
    assert re.fullmatch(r"/orders/\d+/", response.headers["Location"])
    confirmation = browser.follow(response)
    assert confirmation.status_code == 200
    assert "Thank you! Your order has been placed." in confirmation.text
    assert "Paid" in confirmation.text
    assert "Enamel Camping Mug" in confirmation.text
    assert "19.80 EUR" in confirmation.text
    assert 'id="cart-count">0<' in confirmation.text


def test_declined_card_shows_readable_message(browser, shop_data):
    add_to_cart(browser, shop_data["lamp"].pk)
    response = checkout(browser, "4000 0000 0000 0002")
    assert response.status_code == 200
    assert "Payment declined: Your card was declined. Please use another card." in response.text
    assert "Traceback" not in response.text
    # the cart is still there, and a good card then works
    assert "Brass Desk Lamp" in browser.get("/cart/").text
    assert checkout(browser, "4242424242424242").status_code == 302


def test_login_with_csrf_then_order_history_then_logout(browser, shop_data):
    add_to_cart(browser, shop_data["mug"].pk)  # as a guest first: the cart survives login
    login(browser, "erin")
    assert "erin" in browser.page
    cart = browser.get("/cart/")
    assert "Enamel Camping Mug" in cart.text

    order_page = browser.follow(checkout(browser, "4242424242424242", email="erin@example.com"))
    order_no = re.search(r"Order #(\d+)", order_page.text).group(1)
    history = browser.get("/orders/")
    assert history.status_code == 200
    assert f'href="/orders/{order_no}/"' in history.text

    response = browser.post_form("/accounts/logout/", {})
    assert response.status_code == 302
    browser.follow(response)
    assert "Log in" in browser.page
    after = browser.get("/orders/")
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/accounts/login/")


def test_login_without_csrf_is_refused(browser, shop_data):
    browser.get("/accounts/login/")
    response = browser.client.post(
        "/accounts/login/", data={"username": "erin", "password": PASSWORD}
    )
    assert response.status_code == 403


def test_wrong_password_shows_message(browser, shop_data):
    browser.get("/accounts/login/")
    response = browser.post_form("/accounts/login/", {"username": "erin", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.text


def test_admin_login_and_product_changelist(browser, shop_data):
    login(browser, "stan", path="/admin/login/", next="/admin/")
    assert browser.url.endswith("/admin/")
    changelist = browser.get("/admin/catalog/product/")
    assert changelist.status_code == 200
    assert "E2E-MUG" in changelist.text
    assert "E2E-LAMP" in changelist.text
    filtered = browser.get("/admin/catalog/product/", params={"q": "lamp"})
    assert "E2E-LAMP" in filtered.text
    assert "E2E-MUG" not in filtered.text
    change = browser.get(f"/admin/catalog/product/{shop_data['mug'].pk}/change/")
    assert change.status_code == 200


def test_api_through_the_same_server(shop_url, shop_data):
    import httpx

    with httpx.Client(base_url=shop_url) as client:
        body = client.get("/api/products/", params={"search": "mug"}).json()
        assert [p["sku"] for p in body["results"]] == ["E2E-MUG"]
        missing = client.get("/api/nope/")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
