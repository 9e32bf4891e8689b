"""The shop's public JSON, exactly as the legacy API sends it (see monolith/README.md).

Money stays a decimal *string* on the wire ("12.50") and becomes ``Decimal`` here;
timestamps are the legacy naive wall-clock strings and stay strings (parsing them is an
anti-corruption concern, not a client one). Unknown fields are ignored so the client
tolerates additive changes, which is what the contract promises.

The ``V2*`` answers and the ``*Input``/``ProductCreate``/``ProductPatch`` bodies are the
catalog service's own API (staff writes, behind the facade): money there is an object
with a decimal-string ``amount``, timestamps carry their offset and are parsed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)


def _decimal_text(value: object) -> object:
    # The contract says money is a string; a number here means the provider broke it.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("money must be a decimal string such as '12.50', not a JSON number")
    return value


Money = Annotated[Decimal, BeforeValidator(_decimal_text)]
# What the client sends: a decimal string on the wire too ("12.50", never 12.5 or "1.25E+1").
MoneyText = Annotated[Decimal, PlainSerializer(lambda d: f"{d:f}", return_type=str)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CategoryRef(_Wire):
    id: int
    name: str
    slug: str


class Product(_Wire):
    id: int
    sku: str
    name: str
    description: str
    price: Money
    currency: str
    status: str
    stock: int
    in_stock: bool
    category: CategoryRef | None
    attributes: dict[str, str]
    weight_grams: int | None
    created: str
    updated: str


class ProductPage(_Wire):
    count: int
    next: str | None
    previous: str | None
    results: list[Product]


class Category(_Wire):
    id: int
    name: str
    slug: str
    parent: int | None
    path: str


class CategoryDetail(Category):
    children: list[Category] = Field(default_factory=list)


class CartItem(_Wire):
    product_id: int
    sku: str
    name: str
    unit_price: Money
    currency: str
    quantity: int
    line_total: Money
    available: bool


class Cart(_Wire):
    id: int | None
    items: list[CartItem]
    count: int
    total: Money
    currency: str | None = None


class ShippingAddress(_Wire):
    name: str
    line1: str
    line2: str = ""
    city: str
    zip: str
    country: str


class OrderLine(_Wire):
    product_id: int | None
    sku: str
    name: str
    unit_price: Money
    quantity: int
    line_total: Money


class Payment(_Wire):
    id: int
    amount: Money
    currency: str
    status: str
    gateway_ref: str
    created: str


class Order(_Wire):
    id: int
    status: str
    email: str
    total: Money
    currency: str
    shipping: ShippingAddress
    lines: list[OrderLine]
    payments: list[Payment] = Field(default_factory=list)
    created: str
    updated: str


class OrderPage(_Wire):
    count: int
    next: str | None
    previous: str | None
    results: list[Order]


class CheckoutRequest(_Wire):
    email: str
    name: str
    line1: str
    line2: str = ""
    city: str
    zip: str
    country: str
    card_number: str


class Me(_Wire):
    id: int | None = None
    username: str | None = None
    email: str | None = None
    is_staff: bool = False
    authenticated: bool = True


class Problem(_Wire):
    """RFC 9457 problem details, as every error under ``/api/`` is."""

    type: str = "about:blank"
    title: str = ""
    status: int = 0
    detail: str = ""
    instance: str | None = None
    errors: dict[str, list[str]] | None = None


# --- the catalog service's own API (/v2): staff writes -------------------------------------


class _Input(BaseModel):
    """A request body: unknown fields are a caller's mistake, the service refuses them."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceInput(_Input):
    amount: MoneyText
    currency: str = "EUR"


class AttributeInput(_Input):
    key: str
    value: str


class ProductCreate(_Input):
    """``POST /v2/products``. Stock is not settable: it comes from the monolith's inventory."""

    sku: str
    name: str
    price: PriceInput
    description: str | None = None
    status: str = "active"
    attributes: list[AttributeInput] = Field(default_factory=list)
    category_id: int | None = None
    weight_grams: int | None = None


class ProductPatch(_Input):
    """``PATCH /v2/products/{id}``: only the fields given are sent, so only they change.

    An explicit ``None`` clears ``description`` or ``category_id``; the service refuses
    ``None`` for the others.
    """

    name: str | None = None
    description: str | None = None
    price: PriceInput | None = None
    status: str | None = None
    attributes: list[AttributeInput] | None = None
    category_id: int | None = None


class V2Money(_Wire):
    amount_minor: int
    currency: str
    amount: Money


class V2Attribute(_Wire):
    key: str
    value: str


class V2CategoryRef(_Wire):
    id: int
    slug: str
    name: str


class V2Product(_Wire):
    """A product as the catalog service's own API answers: money as an object, the status
    spelt out, attributes as a list, aware timestamps, the version of the product's
    lineage."""

    id: int
    sku: str
    name: str
    description: str | None
    price: V2Money
    status: str
    stock: int
    in_stock: bool
    category: V2CategoryRef | None
    attributes: list[V2Attribute]
    weight_grams: int | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int
