"""Hypothesis strategies for legacy catalog records (for tests here and in the services).

Import only from tests: it needs ``hypothesis`` (a dev dependency).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import strategies as st

from acl.catalog import quirks
from acl.catalog.domain import Attribute, Category, Money, Product, ProductStatus
from acl.catalog.legacy import LegacyCategoryRow, LegacyProductRow

# Text PostgreSQL can store (no NUL, no lone surrogates).
pg_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    max_size=40,
)
_attr_key = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=["Zs", "Cc"], exclude_characters=";=\u2028\u2029"
    ),
    min_size=1,
    max_size=12,
).filter(lambda k: k == k.strip())
_attr_value = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00;"),
    max_size=20,
).filter(lambda v: v == v.strip())

attributes = st.dictionaries(_attr_key, _attr_value, max_size=5).map(
    lambda d: tuple(Attribute(k, v) for k, v in d.items())
)

_sku_core = st.from_regex(r"[A-Z0-9][A-Z0-9-]{0,24}", fullmatch=True)


@st.composite
def raw_skus(draw: st.DrawFn) -> str:
    core = draw(_sku_core)
    if draw(st.booleans()):
        core = core.lower()
    pad = draw(st.sampled_from(["", " ", "  "]))
    return pad + core + draw(st.sampled_from(["", " "]))


prices = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2)

# Naive Berlin wall-clock times that exist (the gap hour is refused, see quirks).
local_datetimes = st.datetimes(
    min_value=datetime(1995, 1, 1),  # noqa: DTZ001
    max_value=datetime(2090, 12, 31),  # noqa: DTZ001
).filter(lambda d: _exists(d))

utc_datetimes = st.datetimes(
    min_value=datetime(1995, 1, 2),  # noqa: DTZ001
    max_value=datetime(2090, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def _exists(naive: datetime) -> bool:
    try:
        quirks.local_to_utc(naive, "t")
    except ValueError:
        return False
    return True


@st.composite
def product_rows(
    draw: st.DrawFn, legacy_id: st.SearchStrategy[int] | None = None
) -> LegacyProductRow:
    attrs = draw(attributes)
    created = draw(local_datetimes)
    return {
        "id": draw(legacy_id or st.integers(1, 2**31 - 1)),
        "sku": draw(raw_skus()),
        "nm": draw(pg_text),
        "descr": draw(pg_text),
        "cat_id": draw(st.none() | st.integers(1, 10_000)),
        "prc": draw(prices),
        "cur": draw(st.sampled_from(["EUR", "eur", "USD", "GBP", "CHF"])),
        "st": draw(st.sampled_from(["A", "H", "D"])),
        "qty": draw(st.integers(0, 2**31 - 1)),
        "attrs": ";".join(f"{a.key}={a.value}" for a in attrs),
        "wt": draw(st.none() | st.integers(0, 2**31 - 1)),
        "created": created,
        "updated": draw(local_datetimes),
    }


@st.composite
def products(draw: st.DrawFn) -> Product:
    """Domain products whose every field the legacy row can hold."""
    currency = draw(st.sampled_from(["EUR", "USD", "JPY", "KWD"]))
    exponent = {"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3}[currency]
    if exponent == 3:
        minor = draw(st.integers(0, 9_999_999_999)) * 10
    else:
        minor = draw(st.integers(0, 10 ** (8 + exponent) - 1))
    sku = draw(_sku_core)
    return Product(
        legacy_id=draw(st.integers(1, 2**31 - 1)),
        sku=sku,
        name=draw(pg_text),
        description=draw(st.none() | pg_text.filter(bool)),
        category_legacy_id=draw(st.none() | st.integers(1, 10_000)),
        price=Money(minor, currency),
        status=draw(st.sampled_from(list(ProductStatus))),
        stock=draw(st.integers(0, 2**31 - 1)),
        attributes=draw(attributes),
        weight_grams=draw(st.none() | st.integers(0, 2**31 - 1)),
        created_at=_canonical(draw(utc_datetimes)),
        updated_at=_canonical(draw(utc_datetimes)),
        version=draw(st.integers(0, 2**40)),
        legacy_sku=draw(st.none() | st.just(" " + sku.lower())),
        legacy_currency=draw(st.none() | st.just(currency.lower())),
    )


def _canonical(value: datetime) -> datetime:
    """Instants the legacy side can express: the later of two ambiguous instants is not."""
    return quirks.local_to_utc(quirks.utc_to_local(value, "t"), "t")


@st.composite
def category_rows(draw: st.DrawFn) -> LegacyCategoryRow:
    legacy_id = draw(st.integers(1, 10_000))
    parent = draw(st.none() | st.integers(1, 10_000).filter(lambda p: p != legacy_id))
    return {
        "id": legacy_id,
        "name": draw(pg_text),
        "slug": draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True)),
        "parent_id": parent,
        "sort_order": draw(st.integers(-1000, 1000)),
    }


def categories(draw_version: bool = True) -> st.SearchStrategy[Category]:
    return category_rows().map(
        lambda r: Category(
            legacy_id=r["id"],
            name=r["name"],
            slug=r["slug"],
            parent_legacy_id=r["parent_id"],
            sort_order=r["sort_order"],
        )
    )


__all__ = [
    "attributes",
    "categories",
    "category_rows",
    "local_datetimes",
    "product_rows",
    "products",
    "utc_datetimes",
]
