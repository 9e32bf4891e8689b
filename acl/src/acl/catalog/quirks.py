"""Field-level translations of the legacy shop's quirks, each in one place.

Every function raises :class:`acl.errors.FieldProblem` instead of guessing. The decisions:

* **SKU**: old rows may be lower-case or padded with spaces. Canonical = stripped and
  upper-cased; the raw spelling is kept separately when it differs.
* **Currency**: ``char(3)`` (blank-padded by PostgreSQL), some rows lower-case ``eur``.
  Canonical = stripped, upper-cased and a known ISO 4217 code.
* **Price**: ``numeric(10,2)``; must be finite, non-negative, < 10^8 and exact in the
  currency's minor units (a JPY price of 12.50 is refused).
* **Status**: ``A``/``H``/``D`` only (exactly; anything else is refused).
* **Description**: ``''`` means none; ``NULL`` never occurs in the legacy schema and is refused.
* **Attributes**: ``key=value;key=value``; ``''`` is empty. As in ``shop.catalog.attrs``:
  empty segments (``a=1;;b=2``, a trailing ``;``) are skipped, each pair splits at the
  first ``=``, key and value are stripped (values keep inner spaces and ``=``). A pair
  without ``=``, with an empty key, or a repeated key is malformed: refused under
  ``AttrsPolicy.STRICT`` (default); ``AttrsPolicy.LEGACY`` reads it as the monolith does
  (drops it / last one wins) and logs a warning.
* **Datetimes**: the columns are ``timestamptz`` (exact instants, read as such), but the
  ORM and the legacy JSON show naive Europe/Berlin wall-clock times (``USE_TZ=False``). An ambiguous
  time (the repeated hour when DST ends) is read as the *first* occurrence (CEST, fold=0),
  which round-trips to the same wall-clock value; the legacy data cannot tell which was
  meant. A nonexistent time (the skipped hour when DST starts) cannot have been written
  by ``auto_now`` and is refused rather than shifted.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from acl.catalog.domain import CURRENCY_EXPONENTS, Attribute, Money, ProductStatus
from acl.errors import FieldProblem

logger = logging.getLogger("acl")

LEGACY_TZ = ZoneInfo("Europe/Berlin")
LEGACY_PRICE_LIMIT = Decimal("100000000")  # numeric(10,2): at most 8 integer digits
LEGACY_SKU_MAX = 32

STATUS_FROM_LEGACY = {
    "A": ProductStatus.ACTIVE,
    "H": ProductStatus.HIDDEN,
    "D": ProductStatus.DISCONTINUED,
}
STATUS_TO_LEGACY = {v: k for k, v in STATUS_FROM_LEGACY.items()}


def canonical_sku(raw: object, field: str = "sku") -> str:
    if not isinstance(raw, str):
        raise FieldProblem(field, "expected text", raw)
    sku = raw.strip().upper()
    if not sku:
        raise FieldProblem(field, "empty SKU", raw)
    return sku


def legacy_spelling(raw: str, canonical: str) -> str | None:
    """The raw legacy spelling, or None when it is the canonical one."""
    return None if raw == canonical else raw


def canonical_currency(raw: object, field: str = "cur") -> str:
    if not isinstance(raw, str):
        raise FieldProblem(field, "expected text", raw)
    code = raw.strip().upper()
    if code not in CURRENCY_EXPONENTS:
        raise FieldProblem(field, "not a known ISO 4217 currency code", raw)
    return code


def money_from_legacy(price: object, currency: str, field: str = "prc") -> Money:
    if isinstance(price, str):
        try:
            price = Decimal(price)
        except InvalidOperation:
            raise FieldProblem(field, "not a decimal number", price) from None
    if isinstance(price, bool) or not isinstance(price, (Decimal, int)):
        raise FieldProblem(field, "expected a decimal", price)
    amount = Decimal(price)
    if not amount.is_finite():
        raise FieldProblem(field, "not a finite number", price)
    if amount < 0:
        raise FieldProblem(field, "negative price", price)
    if amount >= LEGACY_PRICE_LIMIT:
        raise FieldProblem(field, "exceeds numeric(10,2)", price)
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldProblem(field, "more than two decimals", price)
    try:
        return Money.from_decimal(amount, currency)
    except ValueError as exc:
        raise FieldProblem(field, str(exc), price) from None


def money_to_legacy(money: Money, field: str = "price") -> Decimal:
    """The ``numeric(10,2)`` value; refuses amounts the legacy column cannot hold exactly."""
    amount = money.to_decimal()
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldProblem(field, "legacy prices have two decimals", money)
    if amount >= LEGACY_PRICE_LIMIT or amount < 0:
        raise FieldProblem(field, "out of the numeric(10,2) range", money)
    return amount.quantize(Decimal("0.01"))


def status_from_legacy(raw: object, field: str = "st") -> ProductStatus:
    if not isinstance(raw, str) or raw not in STATUS_FROM_LEGACY:
        raise FieldProblem(field, "status must be one of 'A', 'H', 'D'", raw)
    return STATUS_FROM_LEGACY[raw]


def description_from_legacy(raw: object, field: str = "descr") -> str | None:
    if not isinstance(raw, str):
        raise FieldProblem(field, "expected text ('' means no description)", raw)
    return raw or None


class AttrsPolicy(enum.StrEnum):
    """What to do with a malformed ``attrs`` pair (no ``=``, empty key, repeated key)."""

    STRICT = "strict"  # refuse the record (the default: nothing is silently dropped)
    LEGACY = "legacy"  # read it exactly like shop.catalog.attrs does, logging what it drops


def parse_attrs(
    raw: object, field: str = "attrs", policy: AttrsPolicy = AttrsPolicy.STRICT
) -> tuple[Attribute, ...]:
    if not isinstance(raw, str):
        raise FieldProblem(field, "expected packed 'key=value;...' text", raw)
    if raw == "":
        return ()
    attributes: dict[str, str] = {}
    for segment in raw.split(";"):
        if not segment.strip():
            continue  # empty segments (';;', a trailing ';') carry nothing
        key, sep, value = segment.partition("=")
        key = key.strip()
        if not sep or not key:
            problem = f"malformed pair {segment!r} (no '=' or an empty key)"
        elif key in attributes:
            problem = f"repeated key {key!r}"
        else:
            attributes[key] = value.strip()
            continue
        if policy is AttrsPolicy.STRICT:
            raise FieldProblem(field, problem, raw)
        logger.warning("attrs %r: %s; read as the monolith does", raw, problem)
        if sep and key:
            attributes[key] = value.strip()  # the monolith: the last one wins
    return tuple(Attribute(k, v) for k, v in attributes.items())


def check_attribute(key: str, value: str, field: str) -> None:
    """Refuse attributes the packed legacy format cannot carry or that would not parse back."""
    if not key or key != key.strip() or "=" in key or ";" in key:
        raise FieldProblem(field, f"key {key!r} cannot be packed", key)
    if ";" in value or value != value.strip():
        raise FieldProblem(field, f"value of {key!r} contains ';' or surrounding spaces", value)


def pack_attrs(attributes: Sequence[Attribute], field: str = "attributes") -> str:
    for attribute in attributes:
        check_attribute(attribute.key, attribute.value, field)
    return ";".join(f"{a.key}={a.value}" for a in attributes)


def optional_int(raw: object, field: str, *, minimum: int | None = None) -> int | None:
    if raw is None:
        return None
    return required_int(raw, field, minimum=minimum)


def required_int(raw: object, field: str, *, minimum: int | None = None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise FieldProblem(field, "expected an integer", raw)
    if minimum is not None and raw < minimum:
        raise FieldProblem(field, f"must be >= {minimum}", raw)
    return raw


def required_text(raw: object, field: str) -> str:
    if not isinstance(raw, str):
        raise FieldProblem(field, "expected text", raw)
    return raw


def local_to_utc(raw: object, field: str) -> datetime:
    """Legacy datetime -> aware UTC (see the module docstring).

    Read straight from the table it is an exact instant: Django's PostgreSQL columns are
    ``timestamptz`` even with ``USE_TZ=False`` (the connection's time zone is set to
    Europe/Berlin so naive values are stored as the right instant). Through the ORM or
    the legacy JSON it is a naive Europe/Berlin wall-clock time.
    """
    if not isinstance(raw, datetime):
        raise FieldProblem(field, "expected a datetime", raw)
    if raw.tzinfo is not None:
        return raw.astimezone(UTC)
    wall = raw.replace(fold=0)
    utc = wall.replace(tzinfo=LEGACY_TZ).astimezone(UTC)
    if utc.astimezone(LEGACY_TZ).replace(tzinfo=None) != wall:
        raise FieldProblem(field, "nonexistent Europe/Berlin local time (DST gap)", raw)
    return utc


def utc_to_local(value: datetime, field: str) -> datetime:
    """Aware datetime -> legacy naive Europe/Berlin wall-clock time."""
    if value.tzinfo is None:
        raise FieldProblem(field, "expected an aware datetime", value)
    return value.astimezone(LEGACY_TZ).replace(tzinfo=None, fold=0)


def parse_local_iso(raw: object, field: str) -> datetime:
    """A legacy naive ISO string (``2024-05-01T10:00:00[.ffffff]``) -> naive datetime."""
    if not isinstance(raw, str):
        raise FieldProblem(field, "expected an ISO 8601 string", raw)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise FieldProblem(field, "not an ISO 8601 datetime", raw) from None
    if value.tzinfo is not None:
        raise FieldProblem(field, "legacy datetimes are naive; found an offset", raw)
    if value.isoformat() != raw:
        raise FieldProblem(field, "not in the legacy isoformat() spelling", raw)
    return value
