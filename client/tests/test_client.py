"""The client parses the legacy wire shape and turns problems into typed errors.

Its real contract tests are the pact tests in contracts/tests/consumer; these cover the
error mapping and the money guard without a server (httpx.MockTransport)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from shop_client import Conflict, NotFound, ShopClient, UnexpectedResponse

PRODUCT = {
    "id": 12, "sku": "SKU-000012", "name": "Mug", "description": "", "price": "12.50",
    "currency": "EUR", "status": "A", "stock": 7, "in_stock": True, "category": None,
    "attributes": {}, "weight_grams": None, "created": "2024-05-01T10:00:00",
    "updated": "2024-05-01T10:00:00",
}  # fmt: skip


def _client(handler) -> ShopClient:  # type: ignore[no-untyped-def]
    return ShopClient("http://shop.test", transport=httpx.MockTransport(handler))


def test_product_by_sku_is_quoted_and_parsed() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json=PRODUCT)

    with _client(handler) as client:
        product = client.get_product_by_sku("A/B 1")
    assert seen == ["/api/products/sku/A%2FB%201/"]
    assert product.price == Decimal("12.50")


def test_money_as_a_json_number_is_a_broken_contract() -> None:
    broken = {**PRODUCT, "price": 12.5}
    with (
        _client(lambda r: httpx.Response(200, json=broken)) as client,
        pytest.raises(UnexpectedResponse, match="decimal string"),
    ):
        client.get_product(12)


def test_problems_become_typed_errors() -> None:
    problem = {"type": "https://shop.example.com/problems/insufficient-stock", "title": "Conflict",
               "status": 409, "detail": "Only 1 left."}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/products/"):
            return httpx.Response(404, json={"type": "x/not-found", "status": 404})
        return httpx.Response(
            409, json=problem, headers={"content-type": "application/problem+json"}
        )

    with _client(handler) as client:
        with pytest.raises(NotFound):
            client.get_product(1)
        with pytest.raises(Conflict) as err:
            client.add_to_cart(sku="SKU-1", quantity=2)
    assert err.value.slug == "insufficient-stock"
    assert "Only 1 left." in str(err.value)


def test_add_to_cart_needs_exactly_one_identifier() -> None:
    with _client(lambda r: httpx.Response(500)) as client, pytest.raises(ValueError):
        client.add_to_cart()
