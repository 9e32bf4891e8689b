"""Who may call the participant endpoints, and what a malformed call gets: a problem."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from shop.catalog.models import Product

from .conftest import Internal

POSTS = [
    "/_internal/inventory/reservations",
    "/_internal/inventory/releases",
    "/_internal/checkout/cart/clear",
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra",
    [
        {"REMOTE_ADDR": "10.1.2.3"},
        {"HTTP_X_FORWARDED_PROTO": "http"},  # a request the facade proxied
        {"HTTP_X_FORWARDED_FOR": "127.0.0.1"},
    ],
)
def test_only_trusted_peers_own_requests(
    internal: Internal, product: Product, assert_problem: Any, extra: dict[str, str]
) -> None:
    body = {"command_id": str(uuid.uuid4()), "order_id": 1,
            "lines": [{"product_id": product.pk, "quantity": 1}]}  # fmt: skip
    assert_problem(internal.post(POSTS[0], body, **extra), 404)
    assert_problem(Client().get("/_internal/checkout/cart", **extra), 404)
    assert_problem(Client().get("/_internal/checkout/cart", HTTP_AUTHORIZATION="Token x",
                                **extra), 404)  # fmt: skip
    for path in POSTS[1:]:
        assert_problem(internal.post(path, {}, **extra), 404)
    assert Product.objects.get(pk=product.pk).qty == 7


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        (POSTS[0], {}, ("command_id", "order_id", "lines")),
        (POSTS[0], {"command_id": "nope", "order_id": 0, "lines": []},
         ("command_id", "order_id", "lines")),
        (POSTS[0], {"command_id": str(uuid.uuid4()), "order_id": 1,
                    "lines": [{"product_id": 1, "quantity": 0}, {"product_id": "x"}]},
         ("lines.0.quantity", "lines.1.product_id", "lines.1.quantity")),
        (POSTS[0], {"command_id": str(uuid.uuid4()), "order_id": 1, "lines": "all"}, ("lines",)),
        (POSTS[0], {"command_id": str(uuid.uuid4()), "order_id": 2**70,
                    "lines": [{"product_id": 1, "quantity": 2**40}]},
         ("order_id", "lines.0.quantity")),
        (POSTS[1], {"command_id": str(uuid.uuid4()), "reservation_id": 5}, ("reservation_id",
                                                                            "order_id")),
        (POSTS[2], {"command_id": None, "cart_id": "abc"}, ("command_id", "cart_id")),
        (POSTS[2], [1, 2], ("non_field_errors",)),
    ],
)  # fmt: skip
def test_malformed_commands_are_400_problems_with_field_errors(
    internal: Internal, assert_problem: Any, path: str, body: Any, fields: tuple[str, ...]
) -> None:
    problem = assert_problem(internal.post(path, body), 400, fields=fields)
    assert problem["type"].endswith("/validation-error")


@pytest.mark.django_db
def test_quantities_adding_up_past_the_column_are_refused(
    internal: Internal, product: Product, assert_problem: Any
) -> None:
    half = 2**31 - 10
    response = internal.reserve(1, [(product.pk, half), (product.pk, half)])
    assert_problem(response, 400, fields=("lines",))


@pytest.mark.django_db
@pytest.mark.parametrize("path", POSTS)
def test_not_json_is_a_problem_too(internal: Internal, assert_problem: Any, path: str) -> None:
    problem = assert_problem(
        internal.client.post(path, data="{not json", content_type="application/json"), 400
    )
    assert problem["type"].endswith("/malformed-request")
    # A form post (what a cross-site page could send) is refused before anything runs.
    assert_problem(internal.client.post(path, {"command_id": str(uuid.uuid4())}), 415)
    assert_problem(internal.client.get(path), 405)
