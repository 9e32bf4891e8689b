"""Matchers for the legacy wire shapes, shared by the consumer pact tests.

Per PACT-NOTES: no ``match.datetime()`` (its default format rejects what Django and
pydantic emit: regexes instead); ``match.regex`` alone does not check the JSON type
(pitfall C), so money is ``match.str(...) & match.regex(...)``: a string AND two decimals;
``match.int(min=...)`` does not bound anything (pitfall D): no ranges are relied on.
"""

from __future__ import annotations

from typing import Any

from pact import match
from pact.match.matcher import AndMatcher

LEGACY_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"
"""The legacy API's naive wall-clock timestamps, seconds precision, no offset."""
MONEY = r"^-?\d+\.\d{2}$"
CURRENCY = r"^[A-Z]{3}$"
STATUS = r"^[AHD]$"
PROBLEM_JSON = r"^application/problem\+json"
JSON = r"^application/json"


class _AllOf(AndMatcher[Any]):
    """``AndMatcher`` whose integration JSON carries the example value.

    pact-python 4.2's ``AndMatcher`` omits ``value``, so the mock server answers ``null``.
    """

    def to_integration_json(self) -> dict[str, Any]:
        return {**super().to_integration_json(), "value": self._value}


def money(example: str) -> Any:
    return _AllOf(match.str(example), match.regex(example, regex=MONEY), value=example)


def timestamp(example: str = "2024-05-01T10:00:00") -> Any:
    return match.regex(example, regex=LEGACY_TIMESTAMP)


def category_ref(slug: str, name: str) -> dict[str, Any]:
    return {"id": match.int(3), "name": match.str(name), "slug": slug}


def product(
    *,
    id: int = 42,
    sku: Any = "SKU-0042",
    name: str = "Espresso cup",
    price: str = "12.50",
    stock: int = 5,
    category: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": match.int(id),
        "sku": sku,
        "name": match.str(name),
        "description": match.str("Small and strong."),
        "price": money(price),
        "currency": match.regex("EUR", regex=CURRENCY),
        "status": match.regex("A", regex=STATUS),
        "stock": match.int(stock),
        "in_stock": match.bool(True),
        "category": category,
        "attributes": {"color": match.str("red")},
        "weight_grams": match.int(250),
        "created": timestamp(),
        "updated": timestamp(),
    }


def problem(slug: str, status: int) -> dict[str, Any]:
    return {
        "type": match.regex(
            f"https://shop.example.com/problems/{slug}", regex=rf"^https?://\S+/{slug}$"
        ),
        "title": match.str("Not found"),
        "status": status,
        "detail": match.str("No product with that SKU."),
    }


def category(
    *,
    slug: str,
    name: str,
    path: str,
    parent: Any,
    id: int = 1,
) -> dict[str, Any]:
    return {
        "id": match.int(id),
        "name": match.str(name),
        "slug": slug,
        "parent": parent,
        "path": match.str(path),
    }
