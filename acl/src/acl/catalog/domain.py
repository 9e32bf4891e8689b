"""The catalog's own model: what the extracted service thinks a product and a category are.

Plain frozen dataclasses, no framework: the ACL translates legacy shapes into these and
back, and the catalog service builds on them. They hold no legacy quirk except the two
raw legacy spellings (``legacy_sku``, ``legacy_currency``) that cannot be derived from
the canonical values and are needed to answer the legacy API byte for byte.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

# ISO 4217 minor-unit exponents of the currencies the shop may price in. A currency that is
# not listed is untranslatable rather than guessed to have two decimals.
CURRENCY_EXPONENTS: Mapping[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2,
    "CZK": 2, "HUF": 2, "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CNY": 2,
    "HKD": 2, "SGD": 2, "INR": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "TRY": 2, "ILS": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0,
    "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


class ProductStatus(enum.StrEnum):
    ACTIVE = "active"
    HIDDEN = "hidden"
    DISCONTINUED = "discontinued"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in the currency's minor units (cents for EUR, yen for JPY)."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount_minor) is not int:
            raise TypeError("amount_minor must be an int")
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown ISO 4217 currency {self.currency!r}")

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self.currency]

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-self.exponent)

    @classmethod
    def from_decimal(cls, amount: Decimal, currency: str) -> Money:
        """Exact conversion; raises ValueError if ``amount`` has more decimals than allowed."""
        if currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown ISO 4217 currency {currency!r}")
        if not amount.is_finite():
            raise ValueError("amount is not a finite number")
        minor = amount.scaleb(CURRENCY_EXPONENTS[currency])
        if minor != minor.to_integral_value():
            raise ValueError(
                f"{amount} has more decimals than {currency} allows "
                f"({CURRENCY_EXPONENTS[currency]})"
            )
        return cls(int(minor), currency)


@dataclass(frozen=True, slots=True)
class Attribute:
    key: str
    value: str


def _require_utc(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be an aware UTC datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog product. ``legacy_id`` is its identity while the monolith owns writes."""

    legacy_id: int
    sku: str  # canonical: stripped, upper-case
    name: str
    description: str | None  # None = no description (legacy '')
    category_legacy_id: int | None
    price: Money
    status: ProductStatus
    stock: int  # units on hand; the legacy shop may have oversold, so it can be negative
    attributes: tuple[Attribute, ...]
    weight_grams: int | None
    created_at: datetime  # aware, UTC
    updated_at: datetime  # aware, UTC
    version: int = 0  # per-aggregate version of the legacy change this state reflects
    legacy_sku: str | None = field(default=None)  # raw legacy spelling, when not canonical
    legacy_currency: str | None = field(default=None)  # raw legacy spelling, when not canonical

    def __post_init__(self) -> None:
        _require_utc("created_at", self.created_at)
        _require_utc("updated_at", self.updated_at)
        if not self.sku or self.sku != self.sku.strip().upper():
            raise ValueError(f"sku {self.sku!r} is not canonical (stripped, upper-case)")
        if self.weight_grams is not None and self.weight_grams < 0:
            raise ValueError("weight_grams must not be negative")
        if self.price.amount_minor < 0:
            raise ValueError("price must not be negative")
        keys = [a.key for a in self.attributes]
        if len(set(keys)) != len(keys):
            raise ValueError("attribute keys must be unique")

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    @property
    def is_listed(self) -> bool:
        return self.status is ProductStatus.ACTIVE

    @property
    def attributes_dict(self) -> dict[str, str]:
        return {a.key: a.value for a in self.attributes}

    @property
    def sku_as_legacy(self) -> str:
        return self.sku if self.legacy_sku is None else self.legacy_sku

    @property
    def currency_as_legacy(self) -> str:
        return self.price.currency if self.legacy_currency is None else self.legacy_currency


@dataclass(frozen=True, slots=True)
class Category:
    """A node of the category tree; the parent is referenced by legacy id, not embedded."""

    legacy_id: int
    name: str
    slug: str
    parent_legacy_id: int | None
    sort_order: int
    version: int = 0

    def __post_init__(self) -> None:
        if self.parent_legacy_id == self.legacy_id:
            raise ValueError("a category cannot be its own parent")


@dataclass(frozen=True, slots=True)
class CategoryRef:
    """What a product shows of its category."""

    legacy_id: int
    name: str
    slug: str


def category_path(category: Category, by_id: Mapping[int, Category]) -> str:
    """``"Kitchen / Cups"``: the names from the root down. Raises ValueError on a cycle.

    A parent that is unknown (not synced yet) ends the path there.
    """
    names = [category.name]
    seen = {category.legacy_id}
    parent_id = category.parent_legacy_id
    while parent_id is not None:
        if parent_id in seen:
            raise ValueError(f"category tree has a cycle through id {parent_id}")
        parent = by_id.get(parent_id)
        if parent is None:
            break
        seen.add(parent_id)
        names.append(parent.name)
        parent_id = parent.parent_legacy_id
    return " / ".join(reversed(names))


@dataclass(frozen=True, slots=True)
class CategoryNode:
    """A category placed in the tree, with its ``"A / B"`` path and depth."""

    category: Category
    path: str
    depth: int
    children: tuple[CategoryNode, ...] = ()


MAX_TREE_DEPTH = 50  # the monolith stops descending below this depth


def category_tree(ordered: Sequence[Category]) -> list[CategoryNode]:
    """Depth-first tree order, like ``shop.catalog.selectors.category_nodes``.

    ``ordered`` must already be sorted the way the monolith sorts (``sort_order, name,
    id`` in the database's collation); siblings keep that order. Categories that cannot be
    reached from a root (orphans, cycles) are left out, as the monolith leaves them out.
    """
    by_parent: dict[int | None, list[Category]] = {}
    for category in ordered:
        by_parent.setdefault(category.parent_legacy_id, []).append(category)

    def build(parent_id: int | None, prefix: str, depth: int) -> list[CategoryNode]:
        nodes = []
        for category in by_parent.get(parent_id, []):
            path = f"{prefix} / {category.name}" if prefix else category.name
            children = (
                tuple(build(category.legacy_id, path, depth + 1)) if depth < MAX_TREE_DEPTH else ()
            )
            nodes.append(CategoryNode(category, path, depth, children))
        return nodes

    flat: list[CategoryNode] = []

    def walk(nodes: Sequence[CategoryNode]) -> None:
        for node in nodes:
            flat.append(node)
            walk(node.children)

    walk(build(None, "", 0))
    return flat
