"""What the storefront (``shop_client``) relies on from the catalog API.

The provider is the capability ``catalog-api``; the monolith and the catalog service
both verify this same file. Every test drives the real client against the Pact mock
server, so the contract is exactly what the client sends and reads.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from pact import Pact, match
from shop_client import NotFound, ShopClient

from contracts import shapes

CONSUMER = "shop-web"
PROVIDER = "catalog-api"

CUPS = shapes.category_ref("cups", "Cups")


def test_product_list_filtered_by_category(pact: Pact) -> None:
    (
        pact.upon_receiving("a request for the products in a category")
        .given(
            "products exist in a category",
            category="cups",
            sku="SKU-0042",
            price="12.50",
            name="Espresso cup",
            attributes={"color": "red"},
            weight_grams=250,
            description="Small and strong.",
        )
        .with_request("GET", "/api/products/")
        .with_query_parameter("category", "cups")
        .with_header("Accept", "application/json")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=shapes.JSON))
        .with_body(
            {
                "count": match.int(1),
                "next": None,
                "previous": None,
                "results": match.each_like(
                    shapes.product(sku=match.str("SKU-0042"), category=CUPS), min=1
                ),
            },
            content_type="application/json",
        )
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client:
        page = client.list_products(category="cups")
    assert page.count == 1
    assert page.results[0].category is not None
    assert page.results[0].category.slug == "cups"
    assert page.results[0].price == Decimal("12.50")


def test_product_by_id(pact: Pact) -> None:
    (
        pact.upon_receiving("a request for product 42")
        .given(
            "a product exists",
            id=42,
            sku="SKU-0042",
            price="12.50",
            category="cups",
            name="Espresso cup",
            attributes={"color": "red"},
            weight_grams=250,
            description="Small and strong.",
        )
        .with_request("GET", "/api/products/42/")
        .with_header("Accept", "application/json")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=shapes.JSON))
        .with_body(shapes.product(id=42, category=CUPS), content_type="application/json")
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client:
        product = client.get_product(42)
    assert product.sku == "SKU-0042"
    assert product.in_stock is True


def test_product_by_sku(pact: Pact) -> None:
    (
        pact.upon_receiving("a request for the product with SKU SKU-0042")
        .given(
            "a product exists",
            id=42,
            sku="SKU-0042",
            price="12.50",
            category="cups",
            name="Espresso cup",
            attributes={"color": "red"},
            weight_grams=250,
            description="Small and strong.",
        )
        .with_request("GET", "/api/products/sku/SKU-0042/")
        .with_header("Accept", "application/json")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=shapes.JSON))
        .with_body(shapes.product(sku="SKU-0042", category=CUPS), content_type="application/json")
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client:
        product = client.get_product_by_sku("SKU-0042")
    assert product.sku == "SKU-0042"
    assert product.price == Decimal("12.50")


def test_unknown_sku_is_a_404_problem(pact: Pact) -> None:
    (
        pact.upon_receiving("a request for a SKU nobody has")
        .given("no product has the sku", sku="NOPE-0000")
        .with_request("GET", "/api/products/sku/NOPE-0000/")
        .with_header("Accept", "application/json")
        .will_respond_with(404)
        .with_header(
            "Content-Type", match.regex("application/problem+json", regex=shapes.PROBLEM_JSON)
        )
        .with_body(shapes.problem("not-found", 404), content_type="application/problem+json")
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client, pytest.raises(NotFound) as err:
        client.get_product_by_sku("NOPE-0000")
    assert err.value.slug == "not-found"


def test_category_list_in_tree_order(pact: Pact) -> None:
    (
        pact.upon_receiving("a request for all categories")
        .given(
            "a category tree exists",
            parent="kitchen",
            parent_name="Kitchen",
            child="cups",
            child_name="Cups",
            parent_id=1,
        )
        .with_request("GET", "/api/categories/")
        .with_header("Accept", "application/json")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=shapes.JSON))
        .with_body(
            [
                shapes.category(slug="kitchen", name="Kitchen", path="Kitchen", parent=None),
                shapes.category(
                    slug="cups", name="Cups", path="Kitchen / Cups", parent=match.int(1), id=2
                ),
            ],
            content_type="application/json",
        )
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client:
        categories = client.list_categories()
    assert [c.slug for c in categories] == ["kitchen", "cups"]
    assert categories[1].parent == categories[0].id


def test_category_detail_with_children(pact: Pact) -> None:
    (
        pact.upon_receiving("a request for the kitchen category")
        .given(
            "a category tree exists",
            parent="kitchen",
            parent_name="Kitchen",
            child="cups",
            child_name="Cups",
            parent_id=1,
        )
        .with_request("GET", "/api/categories/kitchen/")
        .with_header("Accept", "application/json")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=shapes.JSON))
        .with_body(
            {
                **shapes.category(slug="kitchen", name="Kitchen", path="Kitchen", parent=None),
                "children": [
                    shapes.category(
                        slug="cups", name="Cups", path="Kitchen / Cups", parent=match.int(1), id=2
                    )
                ],
            },
            content_type="application/json",
        )
    )
    with pact.serve() as srv, ShopClient(str(srv.url)) as client:
        kitchen = client.get_category("kitchen")
    assert [c.slug for c in kitchen.children] == ["cups"]
