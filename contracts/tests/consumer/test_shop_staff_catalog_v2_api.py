"""What staff tooling (``shop_client``'s write methods) relies on from the catalog
service's own write API: ``POST /v2/products`` and ``PATCH /v2/products/{id}``.

The provider is ``catalog-v2-api``: only the catalog service implements it (the monolith
has no /v2 endpoints), so the file is verified against the service alone. Who may write is
not part of the contract: the facade turns the staff user's credentials into a signed
``X-Strangler-Identity`` token, and the provider verification adds a valid staff token to
every request as the facade would.

Every write state opens the service's write freeze (``catalog writes are open``) except
the one that proves the refusal while it is closed.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from pact import Pact, match
from shop_client import (
    AttributeInput,
    Conflict,
    InvalidInput,
    Locked,
    NotFound,
    PriceInput,
    ProductCreate,
    ProductPatch,
    ShopClient,
)

from contracts import shapes

CONSUMER = "shop-staff"
PROVIDER = "catalog-v2-api"

OPEN = "catalog writes are open"
NEW_PRODUCT = ProductCreate(
    sku="SKU-0042",
    name="Espresso cup",
    price=PriceInput(amount=Decimal("12.50"), currency="EUR"),
    description="Small and strong.",
    attributes=[AttributeInput(key="color", value="red")],
    category_id=3,
    weight_grams=250,
)
# What the client sends for NEW_PRODUCT, spelt out: a change to the client's body shows
# up here as a failing test and in the pact diff, not silently.
NEW_PRODUCT_BODY = {
    "sku": "SKU-0042",
    "name": "Espresso cup",
    "price": {"amount": "12.50", "currency": "EUR"},
    "description": "Small and strong.",
    "status": "active",
    "attributes": [{"key": "color", "value": "red"}],
    "category_id": 3,
    "weight_grams": 250,
}
EXISTING = {
    "id": 42,
    "sku": "SKU-0042",
    "price": "12.50",
    "category": "cups",
    "name": "Espresso cup",
    "attributes": {"color": "red"},
    "weight_grams": 250,
    "description": "Small and strong.",
}


def _json_answer(pact: Pact, status: int) -> Pact:
    return pact.will_respond_with(status).with_header(
        "Content-Type", match.regex("application/json", regex=shapes.JSON)
    )


def _problem_answer(pact: Pact, status: int) -> Pact:
    return pact.will_respond_with(status).with_header(
        "Content-Type", match.regex("application/problem+json", regex=shapes.PROBLEM_JSON)
    )


def test_create_a_product(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a staff request to create product SKU-0042")
        .given(OPEN)
        .given("a category exists", id=3, slug="cups", name="Cups")
        .with_request("POST", "/v2/products")
        .with_header("Accept", "application/json")
        .with_body(NEW_PRODUCT_BODY, content_type="application/json")
    )
    _json_answer(request, 201).with_body(
        shapes.v2_product(
            id=1_000_000_000,
            sku="SKU-0042",
            name="Espresso cup",
            description="Small and strong.",
            category=shapes.v2_category_ref("cups", "Cups"),
            stock=0,
            version=1,
        ),
        content_type="application/json",
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client:
        product = client.create_product(NEW_PRODUCT)
    assert product.sku == "SKU-0042"
    assert product.price.amount == Decimal("12.50")
    assert product.category is not None
    assert product.category.slug == "cups"
    assert product.stock == 0


def test_create_with_a_taken_sku_is_a_409_problem(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a staff request to create a product whose SKU is taken")
        .given(OPEN)
        .given("a product exists", **EXISTING)
        .with_request("POST", "/v2/products")
        .with_header("Accept", "application/json")
        .with_body({**NEW_PRODUCT_BODY, "category_id": None}, content_type="application/json")
    )
    _problem_answer(request, 409).with_body(
        shapes.field_problem(
            "duplicate-sku", 409, "sku",
            title="A product with this SKU already exists",
            detail="A product with SKU SKU-0042 already exists.",
        ),
        content_type="application/problem+json",
    )  # fmt: skip
    taken = NEW_PRODUCT.model_copy(update={"category_id": None})
    with pact.serve() as srv, ShopClient(str(srv.url)) as client, pytest.raises(Conflict) as err:
        client.create_product(taken)
    assert err.value.slug == "duplicate-sku"
    assert err.value.problem.errors is not None
    assert "sku" in err.value.problem.errors


def test_an_invalid_price_is_a_400_problem_naming_the_field(pact: Pact) -> None:
    body = {**NEW_PRODUCT_BODY, "price": {"amount": "12.505", "currency": "EUR"}}
    request = (
        pact.upon_receiving("a staff request to create a product with a price in tenths of cents")
        .given(OPEN)
        .given("a category exists", id=3, slug="cups", name="Cups")
        .with_request("POST", "/v2/products")
        .with_header("Accept", "application/json")
        .with_body(body, content_type="application/json")
    )
    _problem_answer(request, 400).with_body(
        shapes.field_problem(
            "validation-error", 400, "price",
            title="Invalid input", detail="Some fields are invalid.",
        ),
        content_type="application/problem+json",
    )  # fmt: skip
    invalid = NEW_PRODUCT.model_copy(update={"price": PriceInput(amount=Decimal("12.505"))})
    with (
        pact.serve() as srv,
        ShopClient(str(srv.url)) as client,
        pytest.raises(InvalidInput) as err,
    ):
        client.create_product(invalid)
    assert err.value.problem.errors is not None
    assert list(err.value.problem.errors) == ["price"]


def test_create_while_writes_are_frozen_is_a_423_problem(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a staff request to create a product while catalog writes are frozen")
        .given("catalog writes are frozen")
        .given("a category exists", id=3, slug="cups", name="Cups")
        .with_request("POST", "/v2/products")
        .with_header("Accept", "application/json")
        .with_body(NEW_PRODUCT_BODY, content_type="application/json")
    )
    _problem_answer(request, 423).with_body(
        {
            **shapes.problem("catalog-writes-frozen", 423),
            "title": match.str("Catalog writes frozen"),
            "detail": match.str("catalog writes are frozen in the catalog service"),
        },
        content_type="application/problem+json",
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client, pytest.raises(Locked) as err:
        client.create_product(NEW_PRODUCT)
    assert err.value.slug == "catalog-writes-frozen"


def test_change_a_products_name_and_price(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a staff request to change the name and price of product 42")
        .given(OPEN)
        .given("a product exists", **EXISTING)
        .with_request("PATCH", "/v2/products/42")
        .with_header("Accept", "application/json")
        .with_body(
            {"name": "Espresso mug", "price": {"amount": "9.99", "currency": "EUR"}},
            content_type="application/json",
        )
    )
    _json_answer(request, 200).with_body(
        shapes.v2_product(
            id=42,
            sku=match.str("SKU-0042"),
            name="Espresso mug",
            amount="9.99",
            amount_minor=999,
            category=shapes.v2_category_ref("cups", "Cups", id=1),
            version=2,
        ),
        content_type="application/json",
    )
    changes = ProductPatch(name="Espresso mug", price=PriceInput(amount=Decimal("9.99")))
    with pact.serve() as srv, ShopClient(str(srv.url)) as client:
        product = client.update_product(42, changes)
    assert product.name == "Espresso mug"
    assert product.price.amount == Decimal("9.99")
    assert product.version == 2


def test_change_an_unknown_product_is_a_404_problem(pact: Pact) -> None:
    request = (
        pact.upon_receiving("a staff request to change product 4040, which does not exist")
        .given(OPEN)
        .given("no product has the id", id=4040)
        .with_request("PATCH", "/v2/products/4040")
        .with_header("Accept", "application/json")
        .with_body({"description": None}, content_type="application/json")
    )
    _problem_answer(request, 404).with_body(
        {**shapes.problem("not-found", 404), "detail": match.str("Product 4040 not found.")},
        content_type="application/problem+json",
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client, pytest.raises(NotFound) as err:
        client.update_product(4040, ProductPatch(description=None))
    assert err.value.slug == "not-found"
