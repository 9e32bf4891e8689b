"""The client parses the legacy wire shape and turns problems into typed errors.

Its real contract tests are the pact tests in contracts/tests/consumer; these cover the
error mapping and the money guard without a server (httpx.MockTransport)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from shop_client import (
    AttributeInput,
    Conflict,
    Forbidden,
    InvalidInput,
    Locked,
    NotFound,
    PriceInput,
    ProductCreate,
    ProductPatch,
    ShopClient,
    UnexpectedResponse,
)

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


V2_PRODUCT = {
    "id": 1_000_000_001, "sku": "MUG-1", "name": "Mug", "description": None,
    "price": {"amount_minor": 1250, "currency": "EUR", "amount": "12.50"}, "status": "active",
    "stock": 0, "in_stock": False, "category": {"id": 3, "slug": "cups", "name": "Cups"},
    "attributes": [{"key": "color", "value": "red"}], "weight_grams": None,
    "created_at": "2024-05-01T08:00:00Z", "updated_at": "2024-05-01T08:00:00Z", "version": 1,
}  # fmt: skip


def test_writes_send_money_as_text_and_only_the_fields_set() -> None:
    sent: list[tuple[str, str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(201 if request.method == "POST" else 200, json=V2_PRODUCT)

    with _client(handler) as client:
        created = client.create_product(
            ProductCreate(sku="MUG-1", name="Mug", price=PriceInput(amount=Decimal("12.5")),
                          attributes=[AttributeInput(key="color", value="red")], category_id=3)
        )  # fmt: skip
        client.update_product(created.id, ProductPatch(name="Cup", description=None))
        client.update_product(created.id, ProductPatch(price=PriceInput(amount=Decimal("9.99"))))
    assert created.price.amount == Decimal("12.50")
    assert created.created_at.utcoffset() is not None
    (post, patch, price) = sent
    assert post[:2] == ("POST", "/v2/products")
    assert post[2]["price"] == {"amount": "12.5", "currency": "EUR"}  # type: ignore[index]
    assert patch == ("PATCH", "/v2/products/1000000001", {"name": "Cup", "description": None})
    assert price[2] == {"price": {"amount": "9.99", "currency": "EUR"}}  # the default travels


@pytest.mark.parametrize(
    ("status", "error"), [(400, InvalidInput), (403, Forbidden), (423, Locked)]
)
def test_write_refusals_become_typed_errors(status: int, error: type[Exception]) -> None:
    problem = {"type": "https://shop.example.com/problems/catalog-writes-frozen",
               "status": status, "errors": {"price": ["Must not be negative."]}}  # fmt: skip
    with (
        _client(lambda r: httpx.Response(status, json=problem)) as client,
        pytest.raises(error) as err,
    ):
        client.update_product(1, ProductPatch(name="x"))
    assert err.value.problem.errors == {"price": ["Must not be negative."]}  # type: ignore[attr-defined]
