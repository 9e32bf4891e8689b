"""What the storefront (``shop_client``) relies on from checkout and the order reads.

The provider is ``orders`` (the facade's upstream name for the capability): the monolith
and the orders service both verify this same file. A guest is the session cookie of a
guest cart; a signed-in customer sends an API token, which the facade turns into the
signed ``X-Strangler-Identity`` for the orders service (the provider verification does
that in its place). Every test drives the real client against the Pact mock server.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pact import Pact, match
from shop_client import CheckoutRequest, Conflict, InvalidInput, PaymentDeclined, ShopClient

from contracts import orders_fixtures as fx
from contracts import shapes

CONSUMER = "shop-web"
PROVIDER = "orders"

COOKIE = f"{fx.SESSION_COOKIE}={fx.GUEST_SESSION}"
ORDER_STATUS = r"^(new|paid|shipped|delivered|cancelled)$"
TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$"
GUEST_CART = {
    "session_key": fx.GUEST_SESSION,
    "product_id": fx.PRODUCT_ID,
    "sku": fx.PRODUCT_SKU,
    "price": "12.50",
    "stock": 5,
    "quantity": 2,
}
SIGNED_IN = {
    "user_id": fx.CUSTOMER_ID,
    "token": fx.CUSTOMER_TOKEN,
    "email": fx.CUSTOMER_EMAIL,
    "order_id": fx.CUSTOMER_ORDER_ID,
    "product_id": fx.PRODUCT_ID,
    "sku": fx.PRODUCT_SKU,
    "price": "12.50",
    "quantity": 2,
}
REQUEST = CheckoutRequest(
    email="ada@example.com",
    name="Ada Lovelace",
    line1="1 Analytical Way",
    city="London",
    zip="N1 7AA",
    country="GB",
    card_number=fx.APPROVED_CARD,
)


def _ts(example: str = "2024-05-01T10:00:00") -> Any:
    return match.regex(example, regex=TIMESTAMP)


def _order(*, status: Any = None, payment_status: str = "captured") -> dict[str, Any]:
    return {
        "id": match.int(fx.CUSTOMER_ORDER_ID),
        "status": status if status is not None else match.regex("paid", regex=ORDER_STATUS),
        "email": match.str("ada@example.com"),
        "total": shapes.money("25.00"),
        "currency": match.regex("EUR", regex=shapes.CURRENCY),
        "shipping": {
            "name": match.str("Ada Lovelace"),
            "line1": match.str("1 Analytical Way"),
            "line2": match.str(""),
            "city": match.str("London"),
            "zip": match.str("N1 7AA"),
            "country": match.regex("GB", regex=r"^[A-Z]{2}$"),
        },
        "lines": match.each_like(
            {
                "product_id": match.int(fx.PRODUCT_ID),
                "sku": match.str(fx.PRODUCT_SKU),
                "name": match.str("Espresso cup"),
                "unit_price": shapes.money("12.50"),
                "quantity": match.int(2),
                "line_total": shapes.money("25.00"),
            },
            min=1,
        ),
        "payments": match.each_like(
            {
                "id": match.int(1),
                "amount": shapes.money("25.00"),
                "currency": match.regex("EUR", regex=shapes.CURRENCY),
                "status": match.str(payment_status),
                "gateway_ref": match.str("sim_0123456789abcdef"),
                "created": _ts(),
            },
            min=1,
        ),
        "created": _ts(),
        "updated": _ts(),
    }


def _problem(slug: str, status: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": match.regex(
            f"https://shop.example.com/problems/{slug}", regex=rf"^https?://\S+/{slug}$"
        ),
        "title": match.str("Problem"),
        "status": status,
        "detail": match.str("What went wrong."),
        **extra,
    }


def _checkout(pact: Pact, description: str, state: str, params: dict[str, Any],
              body: dict[str, Any]) -> Pact:  # fmt: skip
    return (
        pact.upon_receiving(description)
        .given(state, **params)
        .with_request("POST", "/api/checkout/")
        .with_header("Accept", "application/json")
        .with_header("Cookie", COOKIE)
        .with_body(body, content_type="application/json")
    )


def _guest_client(url: str) -> ShopClient:
    return ShopClient(url, headers={"Cookie": COOKIE})


def _problem_answer(pact: Pact, status: int) -> Pact:
    return pact.will_respond_with(status).with_header(
        "Content-Type", match.regex("application/problem+json", regex=shapes.PROBLEM_JSON)
    )


def test_guest_checkout_places_a_paid_order(pact: Pact) -> None:
    request = _checkout(pact, "a guest checkout of a cart whose products are in stock",
                        "a guest cart holds products in stock", GUEST_CART,
                        REQUEST.model_dump())  # fmt: skip
    (
        request.will_respond_with(201)
        .with_header("Content-Type", match.regex("application/json", regex=shapes.JSON))
        .with_header("Location", match.regex("/api/orders/1/", regex=r"^/api/orders/\d+/$"))
        .with_body(_order(status="paid"), content_type="application/json")
    )
    with pact.serve() as srv, _guest_client(str(srv.url)) as client:
        order = client.checkout(REQUEST)
    assert order.status == "paid"
    assert order.total == Decimal("25.00")
    assert order.lines[0].sku == fx.PRODUCT_SKU


def test_a_declined_card_is_a_402_problem_naming_the_order(pact: Pact) -> None:
    declined = REQUEST.model_copy(update={"card_number": fx.DECLINED_CARD})
    request = _checkout(pact, "a guest checkout paid with a card the gateway declines",
                        "a guest cart holds products in stock", GUEST_CART,
                        declined.model_dump())  # fmt: skip
    _problem_answer(request, 402).with_body(
        _problem("payment-declined", 402, order_id=match.int(1_000_000_000),
                 reason=match.str("card_declined")),
        content_type="application/problem+json",
    )  # fmt: skip
    with (
        pact.serve() as srv,
        _guest_client(str(srv.url)) as client,
        pytest.raises(PaymentDeclined) as err,
    ):
        client.checkout(declined)
    assert err.value.slug == "payment-declined"


def test_more_than_the_stock_is_a_409_problem_naming_the_sku(pact: Pact) -> None:
    request = _checkout(pact, "a guest checkout of a cart holding more than is in stock",
                        "a guest cart holds more than is in stock",
                        {**GUEST_CART, "stock": 1, "quantity": 3},
                        REQUEST.model_dump())  # fmt: skip
    _problem_answer(request, 409).with_body(
        _problem("insufficient-stock", 409, sku=match.str(fx.PRODUCT_SKU),
                 available=match.int(1)),
        content_type="application/problem+json",
    )  # fmt: skip
    with pact.serve() as srv, _guest_client(str(srv.url)) as client, pytest.raises(Conflict) as err:
        client.checkout(REQUEST)
    assert err.value.slug == "insufficient-stock"


def test_an_empty_cart_is_a_409_problem(pact: Pact) -> None:
    request = _checkout(pact, "a guest checkout without a cart", "the guest has no cart",
                        {"session_key": fx.GUEST_SESSION}, REQUEST.model_dump())  # fmt: skip
    _problem_answer(request, 409).with_body(
        _problem("empty-cart", 409), content_type="application/problem+json"
    )
    with pact.serve() as srv, _guest_client(str(srv.url)) as client, pytest.raises(Conflict) as err:
        client.checkout(REQUEST)
    assert err.value.slug == "empty-cart"


def test_an_invalid_email_is_a_400_problem_naming_the_field(pact: Pact) -> None:
    invalid = REQUEST.model_copy(update={"email": "not-an-email"})
    request = _checkout(pact, "a guest checkout with an invalid email address",
                        "a guest cart holds products in stock", GUEST_CART,
                        invalid.model_dump())  # fmt: skip
    _problem_answer(request, 400).with_body(
        _problem("validation-error", 400,
                 errors={"email": match.each_like(match.str("Enter a valid email address."),
                                                  min=1)}),
        content_type="application/problem+json",
    )  # fmt: skip
    with (
        pact.serve() as srv,
        _guest_client(str(srv.url)) as client,
        pytest.raises(InvalidInput) as err,
    ):
        client.checkout(invalid)
    assert err.value.problem.errors is not None
    assert list(err.value.problem.errors) == ["email"]


def test_a_signed_in_customer_lists_their_orders(pact: Pact) -> None:
    (
        pact.upon_receiving("a signed-in customer's request for their orders")
        .given("a customer has a paid order", **SIGNED_IN)
        .with_request("GET", "/api/orders/")
        .with_header("Accept", "application/json")
        .with_header("Authorization", f"Token {fx.CUSTOMER_TOKEN}")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=shapes.JSON))
        .with_body(
            {
                "count": match.int(1),
                "next": None,
                "previous": None,
                "results": match.each_like(_order(), min=1),
            },
            content_type="application/json",
        )
    )
    with pact.serve() as srv, ShopClient(str(srv.url), token=fx.CUSTOMER_TOKEN) as client:
        page = client.list_orders()
    assert page.count == 1
    assert page.results[0].lines[0].line_total == Decimal("25.00")


def test_a_signed_in_customer_reads_one_order(pact: Pact) -> None:
    (
        pact.upon_receiving("a signed-in customer's request for their order")
        .given("a customer has a paid order", **SIGNED_IN)
        .with_request("GET", f"/api/orders/{fx.CUSTOMER_ORDER_ID}/")
        .with_header("Accept", "application/json")
        .with_header("Authorization", f"Token {fx.CUSTOMER_TOKEN}")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=shapes.JSON))
        .with_body(_order(), content_type="application/json")
    )
    with pact.serve() as srv, ShopClient(str(srv.url), token=fx.CUSTOMER_TOKEN) as client:
        order = client.get_order(fx.CUSTOMER_ORDER_ID)
    assert order.id == fx.CUSTOMER_ORDER_ID
    assert order.payments[0].status == "captured"
