"""The storefront's checkout page while the orders service owns checkout: the order goes to
the public API through the facade (a real HTTP server on loopback stands in for it)."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from shop.cart.models import CartItem
from shop.catalog.models import Product
from shop.orders.models import Order

ORDER_ID = 1_000_000_001
FORM = {
    "email": "guest@example.com",
    "name": "Guest G",
    "line1": "Weg 1",
    "line2": "",
    "zip": "10115",
    "city": "Berlin",
    "country": "DE",
    "card_number": "4242 4242 4242 4242",
}


class FakeFacade:
    """Answers POST /api/checkout/ with the answers queued, and records what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        facade = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                facade.received.append(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(raw)}
                )
                status, body = facade.answers.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeFacade:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def frozen(db: None) -> Iterator[None]:
    with connection.cursor() as cur:
        cur.execute("UPDATE orders_write_freeze SET frozen = true")
    yield
    with connection.cursor() as cur:
        cur.execute("UPDATE orders_write_freeze SET frozen = false")


@pytest.fixture
def facade(settings: Any, frozen: None) -> Iterator[FakeFacade]:
    with FakeFacade() as fake:
        settings.FACADE_URL = fake.url
        yield fake


@pytest.fixture
def browser(product: Product) -> Client:
    client = Client()
    client.post("/cart/add/", {"product_id": product.pk, "quantity": 2})
    return client


def checkout_form(browser: Client) -> dict[str, str]:
    """The checkout page's hidden fields (CSRF token, idempotency key) and the address."""
    html = browser.get("/checkout/").content.decode()
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert {"csrfmiddlewaretoken", "idempotency_key"} <= hidden.keys(), html
    return {**FORM, **hidden}


def hidden_key(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]*)"', html)
    assert match, html
    return match.group(1)


def test_a_placed_order_redirects_to_its_page(browser: Client, facade: FakeFacade) -> None:
    facade.answers.append((201, {"id": ORDER_ID, "status": "paid"}))
    form = checkout_form(browser)
    response = browser.post("/checkout/", form)
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{ORDER_ID}/"
    [sent] = facade.received
    assert sent["path"] == "/api/checkout/"
    assert sent["json"] == {k: form[k] for k in FORM}
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["x-csrftoken"] == form["csrfmiddlewaretoken"]
    assert headers["idempotency-key"] == form["idempotency_key"]
    assert headers["content-type"] == "application/json"
    cookies = dict(c.strip().split("=", 1) for c in headers["cookie"].split(";"))
    assert cookies["sessionid"] == browser.cookies["sessionid"].value
    assert cookies["csrftoken"] == browser.cookies["csrftoken"].value
    # The reverse sync has not brought the order yet: the page says it is on its way.
    pending = browser.get(f"/orders/{ORDER_ID}/")
    assert pending.status_code == 200
    assert pending["Refresh"] == "2"
    assert "being confirmed" in pending.content.decode()
    assert Client().get(f"/orders/{ORDER_ID}/").status_code == 404  # only for this session
    # Once synced, the guest sees the order (remembered in the session as before).
    Order.objects.create(id=ORDER_ID, email="guest@example.com", status="paid", total="25.00",
                         ship_name="Guest G", ship_line1="Weg 1", ship_city="Berlin",
                         ship_zip="10115", ship_country="DE")  # fmt: skip
    page = browser.get(f"/orders/{ORDER_ID}/")
    assert page.status_code == 200
    assert "Status: <strong>Paid</strong>" in page.content.decode()


def test_a_double_submit_sends_the_same_idempotency_key(
    browser: Client, facade: FakeFacade
) -> None:
    facade.answers += [(201, {"id": ORDER_ID}), (201, {"id": ORDER_ID})]
    form = checkout_form(browser)
    browser.post("/checkout/", form)
    browser.post("/checkout/", form)
    keys = [r["headers"]["Idempotency-Key"] for r in facade.received]
    assert keys == [form["idempotency_key"]] * 2


def test_a_decline_shows_the_message_and_keeps_the_cart(
    browser: Client, facade: FakeFacade, product: Product
) -> None:
    facade.answers.append(
        (402, {"status": 402, "detail": "Your card was declined. Please use another card."})
    )
    form = checkout_form(browser)
    response = browser.post("/checkout/", {**form, "card_number": "4000 0000 0000 0002"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Payment declined: Your card was declined. Please use another card." in html
    assert hidden_key(html) != form["idempotency_key"]  # another card is another payment
    assert CartItem.objects.filter(product=product).get().qty == 2


def test_field_errors_and_conflicts_are_shown(browser: Client, facade: FakeFacade) -> None:
    facade.answers += [
        (400, {"status": 400, "detail": "Some fields are invalid.",
               "errors": {"card_number": ["Enter a valid card number."]}}),
        (409, {"status": 409, "detail": "Only 1 of MUG-RED in stock, 2 requested."}),
    ]  # fmt: skip
    form = checkout_form(browser)
    html = browser.post("/checkout/", form).content.decode()
    assert "Some fields are invalid." in html
    assert "Enter a valid card number." in html
    html = browser.post("/checkout/", form).content.decode()
    assert "Only 1 of MUG-RED in stock, 2 requested." in html


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_keeps_everything_for_a_retry(
    browser: Client, facade: FakeFacade, product: Product, status: int
) -> None:
    facade.answers.append((status, {"detail": "upstream exploded"}))
    form = checkout_form(browser)
    html = browser.post("/checkout/", form).content.decode()
    assert "We could not place your order just now" in html
    assert "upstream exploded" not in html
    # The same key again: if the order was placed after all, the retry replays it.
    assert hidden_key(html) == form["idempotency_key"]
    assert CartItem.objects.filter(product=product).get().qty == 2
    assert 'value="Weg 1"' in html  # the form is filled in as it was


def test_no_facade_at_all_is_a_friendly_error(browser: Client, frozen: None, settings: Any) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        settings.FACADE_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    html = browser.post("/checkout/", checkout_form(browser)).content.decode()
    assert "We could not place your order just now" in html


def test_an_invalid_form_or_a_dry_run_sends_nothing(browser: Client, facade: FakeFacade) -> None:
    form = checkout_form(browser)
    html = browser.post("/checkout/", {**form, "email": "nope"}).content.decode()
    assert "Enter a valid email address." in html
    html = browser.post("/checkout/", form, HTTP_X_STRANGLER_DRY_RUN="1").content.decode()
    assert "dry run" in html
    assert facade.received == []


def test_unfrozen_checkout_stays_local(
    browser: Client, settings: Any, product: Product, db: None
) -> None:
    settings.FACADE_URL = "http://127.0.0.1:9"  # never asked
    response = browser.post("/checkout/", checkout_form(browser))
    assert response.status_code == 302
    assert Order.objects.get().status == "paid"
