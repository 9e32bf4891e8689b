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
ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$"
"""The service's own timestamps: ISO 8601 with an offset (``Z``), microseconds optional."""
V2_STATUS = r"^(active|hidden|discontinued)$"


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


# --- the catalog service's own API (/v2) ---------------------------------------------------


def v2_product(
    *,
    id: int = 42,
    sku: Any = "SKU-0042",
    name: Any = "Espresso cup",
    amount: Any = None,
    amount_minor: int = 1250,
    description: Any = None,
    category: Any = None,
    stock: int = 5,
    version: int = 2,
) -> dict[str, Any]:
    """``ProductOut``: money as an object (minor units, currency, decimal-string amount)."""
    return {
        "id": match.int(id),
        "sku": sku,
        "name": name,
        "description": description if description is not None else match.str("Small."),
        "price": {
            "amount_minor": match.int(amount_minor),
            "currency": match.regex("EUR", regex=CURRENCY),
            "amount": amount if amount is not None else money("12.50"),
        },
        "status": match.regex("active", regex=V2_STATUS),
        "stock": match.int(stock),
        "in_stock": match.bool(stock > 0),
        "category": category,
        "attributes": match.each_like(
            {"key": match.str("color"), "value": match.str("red")}, min=1
        ),
        "weight_grams": match.int(250),
        "created_at": match.regex("2024-05-01T08:00:00Z", regex=ISO_UTC),
        "updated_at": match.regex("2024-05-01T08:00:00Z", regex=ISO_UTC),
        "version": match.int(version),
    }


def v2_category_ref(slug: str, name: str, id: int = 3) -> dict[str, Any]:
    return {"id": match.int(id), "slug": slug, "name": match.str(name)}


def field_problem(slug: str, status: int, field: str, *, title: str, detail: str) -> dict[str, Any]:
    """A problem that names the refused field (``errors``), as the write endpoints send."""
    return {
        **problem(slug, status),
        "title": match.str(title),
        "detail": match.str(detail),
        "errors": {field: match.each_like(match.str(detail), min=1)},
    }
