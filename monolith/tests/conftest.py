"""Shared fixtures: a small catalog built through the services, users, API clients."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient
from shop.catalog.models import Category, Product
from shop.catalog.services import category_create, product_create

PASSWORD = "test-pass-123"
_skus = itertools.count(1)


@pytest.fixture
def categories(db: None) -> dict[str, Category]:
    """Kitchen > Cups > Mugs, and Garden (no products)."""
    kitchen = category_create(name="Kitchen", slug="kitchen")
    cups = category_create(name="Cups", slug="cups", parent=kitchen)
    mugs = category_create(name="Mugs", slug="mugs", parent=cups)
    garden = category_create(name="Garden", slug="garden", sort_order=1)
    return {"kitchen": kitchen, "cups": cups, "mugs": mugs, "garden": garden}


@pytest.fixture
def make_product(db: None) -> Callable[..., Product]:
    def make(**overrides: Any) -> Product:
        fields: dict[str, Any] = {
            "sku": f"T-{next(_skus):05d}",
            "name": "Test Mug",
            "price": Decimal("12.50"),
            "stock": 10,
        }
        fields.update(overrides)
        return product_create(**fields)

    return make


@pytest.fixture
def product(make_product: Callable[..., Product], categories: dict[str, Category]) -> Product:
    return make_product(
        sku="MUG-RED",
        name="Red Mug",
        description="A red mug.",
        price="12.50",
        category=categories["mugs"],
        attributes={"color": "red", "size": "large mug"},
        weight_grams=250,
        stock=7,
    )


@pytest.fixture
def customer(db: None) -> User:
    from shop.customers.services import customer_register

    return customer_register(username="alice", email="alice@example.com", password=PASSWORD).user


@pytest.fixture
def other_customer(db: None) -> User:
    from shop.customers.services import customer_register

    return customer_register(username="bob", email="bob@example.com", password=PASSWORD).user


@pytest.fixture
def staff(db: None) -> User:
    user = User.objects.create_user(
        username="clerk", email="clerk@example.com", password=PASSWORD, is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=[
                "catalog",
                "inventory",
                "orders",
                "payments",
                "customers",
                "cart",
            ]
        )
    )
    return user


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def customer_api(customer: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(customer)
    return client


@pytest.fixture
def staff_api(staff: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff)
    return client


PROBLEM = "application/problem+json"


def _assert_problem(response: Any, status: int, *, fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` (and errors for ``fields``)."""
    assert response.status_code == status, getattr(response, "content", response)
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    for key in ("type", "title", "detail", "instance"):
        assert isinstance(body[key], str), key
        assert body[key], key
    assert "Traceback" not in response.content.decode()
    for field in fields:
        assert field in body.get("errors", {}), body
    return body


@pytest.fixture
def assert_problem() -> Callable[..., dict[str, Any]]:
    return _assert_problem


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # The production hasher is slow on purpose; tests hash many passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
