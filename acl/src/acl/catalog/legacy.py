"""The legacy shapes, exactly as the monolith has them: table rows and public JSON."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TypedDict

PRODUCT_COLUMNS = (
    "id", "sku", "nm", "descr", "cat_id", "prc", "cur", "st", "qty", "attrs", "wt",
    "created", "updated",
)  # fmt: skip
CATEGORY_COLUMNS = ("id", "name", "slug", "parent_id", "sort_order")


class LegacyProductRow(TypedDict):
    """A ``shop_product`` row as psycopg returns it."""

    id: int
    sku: str  # varchar(32) unique; old rows lower-case or padded
    nm: str  # varchar(200): the name
    descr: str  # text; '' = no description
    cat_id: int | None
    prc: Decimal  # numeric(10,2)
    cur: str  # char(3), default 'EUR', some 'eur'
    st: str  # char(1): A active, H hidden, D discontinued
    qty: int  # stock on hand
    attrs: str  # 'key=value;key=value' or ''
    wt: int | None  # grams
    created: datetime  # naive Europe/Berlin
    updated: datetime  # naive Europe/Berlin


class LegacyCategoryRow(TypedDict):
    """A ``shop_category`` row."""

    id: int
    name: str
    slug: str
    parent_id: int | None
    sort_order: int


class LegacyCategoryRefJSON(TypedDict):
    id: int
    name: str
    slug: str


# Key order is part of the contract; the translators build dicts in this order.
class LegacyProductJSON(TypedDict):
    id: int
    sku: str
    name: str
    description: str
    price: str
    currency: str
    status: str
    stock: int
    in_stock: bool
    category: LegacyCategoryRefJSON | None
    attributes: dict[str, str]
    weight_grams: int | None
    created: str
    updated: str


class LegacyCategoryJSON(TypedDict):
    id: int
    name: str
    slug: str
    parent: int | None
    path: str
