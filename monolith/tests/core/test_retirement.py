"""SHOP_RETIRED (step 6): retired capabilities leave the URL config, their admin turns
read-only, everything else the monolith serves stays; a bad value stops the start."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib import admin
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import URLPattern, URLResolver, clear_url_caches, get_resolver
from shop.cart.services import cart_add_item, cart_get_or_create
from shop.core.retirement import (
    CAPABILITIES,
    RETIRED_ADMIN_MODELS,
    RETIRED_ROUTES,
    parse_retired,
    retired_route_names,
)
from shop.orders.models import Order
from shop.orders.services import ShippingAddress, checkout

MONOLITH = Path(__file__).resolve().parents[2]
STEP_6 = MONOLITH.parent / "migrations-plan" / "step-6-retire" / "step.yaml"


def _reload_urlconf() -> None:
    # shop.urls holds the resolver of api/ (with its cached patterns): reload both.
    import shop.api.urls
    import shop.urls

    importlib.reload(shop.api.urls)
    importlib.reload(shop.urls)
    clear_url_caches()


@pytest.fixture
def retire(settings: Any) -> Iterator[Callable[..., None]]:
    """``retire("catalog")``: the URL config as the monolith builds it with SHOP_RETIRED."""

    def apply(*capabilities: str) -> None:
        settings.SHOP_RETIRED = frozenset(capabilities)
        _reload_urlconf()

    yield apply
    settings.SHOP_RETIRED = frozenset()
    _reload_urlconf()


def named_routes() -> set[str]:
    """Every named URL pattern, as the metrics label it (``api:product-list``)."""
    names: set[str] = set()

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                space = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
                walk(entry.url_patterns, space)
            elif entry.name:
                names.add(f"{prefix}{entry.name}")

    walk(get_resolver().url_patterns, "")
    return names


def call(client: Client, method: str, path: str) -> Any:
    if method in ("get", "head", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, "{}", content_type="application/json")


# -- the setting


def test_the_setting_is_a_comma_separated_set_of_capabilities() -> None:
    assert parse_retired(None) == frozenset()
    assert parse_retired("") == frozenset()
    assert parse_retired(" Catalog , orders,") == {"catalog", "orders"}


def test_an_unknown_capability_is_a_readable_error() -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        parse_retired("catalog,ordres")
    message = str(caught.value)
    assert "SHOP_RETIRED='catalog,ordres'" in message
    assert "'ordres'" in message
    assert "catalog, orders" in message


def test_the_monolith_refuses_to_start_with_an_unknown_capability() -> None:
    base = {k: v for k, v in os.environ.items() if k != "SHOP_RETIRED"}
    code = "import shop.settings as s; print(sorted(s.SHOP_RETIRED))"

    def run(value: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=MONOLITH,
            env={**base, "SHOP_RETIRED": value},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    bad = run("catalog,payments")
    assert bad.returncode != 0
    assert "SHOP_RETIRED='catalog,payments' names unknown capabilities 'payments'" in bad.stderr
    good = run("orders,catalog")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "['catalog', 'orders']"


# -- the URL config


def test_every_retired_name_is_a_route_of_the_monolith() -> None:
    assert set(retired_route_names(CAPABILITIES)) <= named_routes()


@pytest.mark.parametrize(
    "capabilities", [("catalog",), ("orders",), ("catalog", "orders")], ids="+".join
)
def test_retiring_removes_exactly_the_capabilitys_routes(
    retire: Callable[..., None], capabilities: tuple[str, ...]
) -> None:
    before = named_routes()
    retire(*capabilities)
    after = named_routes()
    assert before - after == retired_route_names(capabilities)
    assert after <= before


@pytest.mark.django_db
class TestRetiredRoutes:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/api/products/"),
            ("post", "/api/products/"),
            ("get", "/api/products/1/"),
            ("patch", "/api/products/1/"),
            ("delete", "/api/products/1/"),
            ("get", "/api/products/sku/MUG-RED/"),
            ("get", "/api/categories/"),
            ("get", "/api/categories/mugs/"),
        ],
    )
    def test_catalog_api_is_the_api_404(
        self, retire: Callable[..., None], product: Any, assert_problem: Any, method: str, path: str
    ) -> None:
        retire("catalog")
        body = assert_problem(call(Client(), method, path), 404)
        assert body["instance"] == path

    @pytest.mark.parametrize(
        ("method", "path"),
        [("post", "/api/checkout/"), ("get", "/api/orders/"), ("get", "/api/orders/1/")],
    )
    def test_orders_api_is_the_api_404(
        self,
        retire: Callable[..., None],
        customer: Any,
        assert_problem: Any,
        method: str,
        path: str,
    ) -> None:
        retire("orders")
        client = Client()
        client.force_login(customer)
        assert_problem(call(client, method, path), 404)

    def test_what_the_monolith_still_serves_stays(
        self, retire: Callable[..., None], product: Any, staff: Any
    ) -> None:
        retire("catalog", "orders")
        browser = Client()
        assert browser.get("/").status_code == 200
        assert browser.get(f"/products/{product.pk}/").status_code == 200
        assert browser.get("/api/cart/").status_code == 200
        added = browser.post(
            "/api/cart/items/", {"sku": "MUG-RED", "quantity": 1}, content_type="application/json"
        )
        assert added.status_code in (200, 201), added.content
        assert browser.get("/healthz").status_code == 200
        assert browser.get("/metrics").status_code == 200
        browser.force_login(staff)
        assert browser.get("/admin/").status_code == 200

    def test_a_capability_not_retired_keeps_its_routes(
        self, retire: Callable[..., None], product: Any
    ) -> None:
        retire("orders")
        assert Client().get("/api/products/").status_code == 200
        assert Client().get("/api/categories/").status_code == 200


# -- the admin


@pytest.fixture
def staff_browser(staff: Any) -> Client:
    browser = Client()
    browser.force_login(staff)
    return browser


@pytest.fixture
def order(product: Any, customer: Any) -> Order:
    cart = cart_get_or_create(user=customer, session=SessionStore())
    cart_add_item(cart=cart, product_id=product.pk, quantity=1)
    address = ShippingAddress(name="Alice A", line1="Hauptstr. 1", city="Berlin", zip="10115",
                              country="de")  # fmt: skip
    placed = checkout(
        cart=cart, email=customer.email, address=address, card_number="4242424242424242",
        user=customer,
    )  # fmt: skip
    return placed.order


def test_every_retired_model_has_an_admin() -> None:
    registered = {model._meta.label_lower for model in admin.site._registry}
    for labels in RETIRED_ADMIN_MODELS.values():
        assert set(labels) <= registered


@pytest.mark.django_db
class TestRetiredAdmin:
    def test_product_and_category_admin_turn_read_only(
        self, retire: Callable[..., None], staff_browser: Client, product: Any, categories: Any
    ) -> None:
        change = f"/admin/catalog/product/{product.pk}/change/"
        page = staff_browser.get(change)
        assert page.status_code == 200
        assert b'name="_save"' in page.content  # still editable while catalog is served
        retire("catalog")
        page = staff_browser.get(change)
        assert page.status_code == 200
        assert b'name="_save"' not in page.content
        assert staff_browser.post(change, {"nm": "Changed"}).status_code == 403
        assert staff_browser.get("/admin/catalog/product/add/").status_code == 403
        assert staff_browser.get("/admin/catalog/category/add/").status_code == 403
        listing = staff_browser.get("/admin/catalog/product/")
        assert listing.status_code == 200
        assert b"catalog is retired" in listing.content
        assert b'name="action"' not in listing.content  # no bulk actions
        product.refresh_from_db()
        assert product.nm == "Red Mug"

    def test_order_admin_turns_read_only(
        self, retire: Callable[..., None], staff_browser: Client, order: Order
    ) -> None:
        change = f"/admin/orders/order/{order.pk}/change/"
        assert b'name="_save"' in staff_browser.get(change).content
        retire("orders")
        page = staff_browser.get(change)
        assert page.status_code == 200
        assert b'name="_save"' not in page.content
        assert staff_browser.post(change, {"status": "cancelled"}).status_code == 403
        listing = staff_browser.get("/admin/orders/order/")
        assert b"the orders service owns their writes" in listing.content
        assert b'name="action"' not in listing.content
        order.refresh_from_db()
        assert order.status != "cancelled"

    def test_retiring_orders_leaves_the_catalog_admin_alone(
        self, retire: Callable[..., None], staff_browser: Client, product: Any
    ) -> None:
        retire("orders")
        page = staff_browser.get(f"/admin/catalog/product/{product.pk}/change/")
        assert b'name="_save"' in page.content


# -- the plan's copy of the names (the tooling does not import the monolith)


def test_step_6_manifest_names_the_same_routes_and_models() -> None:
    manifest = yaml.safe_load(STEP_6.read_text(encoding="utf-8"))
    capabilities = manifest["retire"]["capabilities"]
    assert set(capabilities) == set(RETIRED_ROUTES)
    for name, routes in RETIRED_ROUTES.items():
        assert sorted(capabilities[name]["views"]) == sorted(routes), name
