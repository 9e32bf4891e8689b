"""Catalog writes owned by the service (step 4), and the events they send to the monolith.

Each write is ONE transaction of the catalog database: the freeze flag is read under a
share lock (so ``strangler ownership switch`` flipping it waits for writes in flight, and
no write slips in after the drain started), the product row is locked, the new state is
built through the domain and the ACL (a state the legacy row cannot hold is refused here,
not parked in the monolith), the event is recorded in the service's outbox with the
library's ``record_event``, and the row is written with the event's version.

Versions: one lineage per product on both sides. A service write takes ``max(row version,
outbox counter) + 1``; the monolith's consumer lifts its own counter to every version it
applies, so its next write continues above it. Concurrent writes on both sides may take
the same version: then the service's state wins on both sides (the monolith applies an
equal service version, this side skips an equal monolith version), so both converge to the
same whole state. Stock is the monolith's (inventory): the service never writes it and
takes it from every newer monolith event, even one whose catalog fields lose the tie.

The sync consumer records through :func:`record_product` too, inside a transaction marked
``sync:monolith``: the writer suppresses that origin, so an applied monolith change is
never sent back (``outbox_echoes_suppressed_total`` counts each one).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from acl.catalog import events as acl_events
from acl.catalog.quirks import local_to_utc, utc_to_local
from acl.catalog.rows import product_to_row
from acl.errors import UntranslatableRecord
from sqlalchemy import Connection, func, select, text

from catalog_service.adapters.repository import product_from_record, product_values
from catalog_service.adapters.tables import (
    PRODUCT_ID_SEQUENCE,
    catalog_write_freeze,
    categories,
    products,
)
from catalog_service.domain import Attribute, Money, Product, ProductStatus
from outbox import RecordedEvent, record_event

SERVICE_ORIGIN: Final = "catalog"
# What the sync consumer marks its transactions with; never recorded by this writer.
SYNC_ORIGIN: Final = "sync:monolith"
MAX_SKU: Final = 32  # the legacy column


class WriteError(Exception):
    """A write the client asked for and cannot have; ``errors`` per field when known."""

    def __init__(self, detail: str, errors: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = {k: list(v) for k, v in (errors or {}).items()}


class InvalidProduct(WriteError):
    pass


class ProductNotFound(WriteError):
    pass


class SkuTaken(WriteError):
    pass


class CatalogWritesFrozen(WriteError):
    pass


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@dataclasses.dataclass(frozen=True)
class ProductChanges:
    """What a PATCH changes; ``UNSET`` fields stay as they are."""

    name: str | _Unset = UNSET
    description: str | _Unset | None = UNSET
    price: tuple[str, str] | _Unset = UNSET  # (amount, currency)
    status: str | _Unset = UNSET
    attributes: Sequence[tuple[str, str]] | _Unset = UNSET
    category_id: int | _Unset | None = UNSET

    def fields(self) -> list[str]:
        return [
            f.name
            for f in dataclasses.fields(self)
            if not isinstance(getattr(self, f.name), _Unset)
        ]


ALL_COLUMNS: Final = ("id", "sku", "nm", "descr", "cat_id", "prc", "cur", "st", "qty", "attrs",
                      "wt", "created", "updated")  # fmt: skip
# the legacy columns each change touches, for the events' "changed" list
_COLUMNS: Final = {
    "name": ["nm"], "description": ["descr"], "price": ["prc", "cur"], "status": ["st"],
    "attributes": ["attrs"], "category_id": ["cat_id"],
}  # fmt: skip


def legacy_now() -> datetime:
    """Now, as an instant the legacy naive Europe/Berlin column stores and reads back
    unchanged (the second pass through a repeated autumn hour would not)."""
    return local_to_utc(utc_to_local(datetime.now(UTC), "now"), "now")


# --- the freeze -------------------------------------------------------------------------


def ensure_writable(connection: Connection) -> None:
    """Refuse while frozen; the share lock makes a concurrent freeze wait for this write."""
    frozen = connection.execute(
        select(catalog_write_freeze.c.frozen).with_for_update(read=True)
    ).scalar_one_or_none()
    if frozen is None or frozen:
        raise CatalogWritesFrozen(
            "catalog writes are frozen in the catalog service (the monolith owns them, or "
            "an ownership switch is in progress)"
        )


def set_frozen(connection: Connection, frozen: bool) -> None:
    connection.execute(catalog_write_freeze.update().values(frozen=frozen, changed_at=func.now()))


# --- validation -----------------------------------------------------------------------------


def _clean_name(raw: str, errors: dict[str, list[str]]) -> str:
    name = raw.strip()
    if not name:
        errors.setdefault("name", []).append("This field may not be blank.")
    elif len(name) > 200:
        errors.setdefault("name", []).append("At most 200 characters.")
    return name


def _clean_price(raw: tuple[str, str], errors: dict[str, list[str]]) -> Money | None:
    amount, currency = raw
    try:
        value = Decimal(amount)
        money = Money.from_decimal(value, currency.strip().upper())
    except (InvalidOperation, ValueError) as exc:
        errors.setdefault("price", []).append(str(exc) or "A valid amount is required.")
        return None
    if money.amount_minor < 0:
        errors.setdefault("price", []).append("Must not be negative.")
        return None
    return money


def _clean_status(raw: str, errors: dict[str, list[str]]) -> ProductStatus | None:
    try:
        return ProductStatus(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in ProductStatus)
        errors.setdefault("status", []).append(f"Must be one of {allowed}.")
        return None


def _clean_attributes(
    raw: Sequence[tuple[str, str]], errors: dict[str, list[str]]
) -> tuple[Attribute, ...]:
    keys = [k for k, _ in raw]
    if len(set(keys)) != len(keys):
        errors.setdefault("attributes", []).append("Attribute keys must be unique.")
    return tuple(Attribute(k, v) for k, v in raw)


def _category_exists(connection: Connection, category_id: int) -> bool:
    found = connection.execute(
        select(categories.c.legacy_id).where(
            categories.c.legacy_id == category_id, ~categories.c.deleted
        )
    ).first()
    return found is not None


def _check_category(
    connection: Connection, category_id: int | None, errors: dict[str, list[str]]
) -> None:
    if category_id is not None and not _category_exists(connection, category_id):
        errors.setdefault("category_id", []).append(f"No category {category_id}.")


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise InvalidProduct("Some fields are invalid.", errors)


def _legacy_fit(product: Product) -> None:
    """The monolith must be able to store what we accept: refuse it here, with the field."""
    try:
        product_to_row(product)
    except UntranslatableRecord as exc:
        field = {"nm": "name", "prc": "price", "attrs": "attributes"}.get(exc.field, exc.field)
        raise InvalidProduct("Some fields are invalid.", {field: [exc.reason]}) from None


def _build(**fields: Any) -> Product:
    try:
        return Product(**fields)
    except (TypeError, ValueError) as exc:
        raise InvalidProduct("Some fields are invalid.", {"non_field_errors": [str(exc)]}) from None


# --- recording --------------------------------------------------------------------------------


def record_product(
    connection: Connection,
    product: Product,
    *,
    changed: Sequence[str],
    headers: Mapping[str, str] | None = None,
) -> RecordedEvent | None:
    """Record ``catalog.product.upserted.v1`` (full legacy row) for ``product``.

    The version continues the product's lineage (see the module docstring). None when the
    transaction is a sync apply: that change must not travel back.
    """
    aggregate_id = str(product.legacy_id)
    cursor = connection.connection.cursor()  # the DBAPI cursor, this transaction
    cursor.execute(
        "INSERT INTO outbox_aggregate_version AS c (aggregate_type, aggregate_id, version)"
        " VALUES (%s, %s, %s) ON CONFLICT (aggregate_type, aggregate_id)"
        " DO UPDATE SET version = GREATEST(c.version, excluded.version)",
        (acl_events.PRODUCT_AGGREGATE, aggregate_id, product.version),
    )
    return record_event(
        cursor,
        aggregate_type=acl_events.PRODUCT_AGGREGATE,
        aggregate_id=aggregate_id,
        event_type=str(acl_events.EventType.PRODUCT_UPSERTED),
        payload={
            "row": acl_events.product_row_payload(product_to_row(product)),
            "changed": list(changed),
        },
        headers={"origin": SERVICE_ORIGIN, **(headers or {})},
        suppress_origins={SYNC_ORIGIN},
    )


def _event_headers(causation_id: str | None, traceparent: str | None) -> dict[str, str]:
    headers = {"causation_id": causation_id or str(uuid.uuid4())}
    if traceparent:
        headers["traceparent"] = traceparent
    return headers


def _write_row(connection: Connection, product: Product, *, insert: bool) -> None:
    values = product_values(product)
    if insert:
        values["stock_version"] = 0
        connection.execute(products.insert().values(**values))
        return
    # Stock is the monolith's: neither the stock nor the version it came from changes here.
    for owned_elsewhere in ("stock", "stock_version", "legacy_id"):
        values.pop(owned_elsewhere)
    connection.execute(
        products.update()
        .where(products.c.legacy_id == product.legacy_id)
        .values(**values, synced_at=func.now())
    )


# --- the use cases ------------------------------------------------------------------------------


def create_product(
    connection: Connection,
    *,
    sku: str,
    name: str,
    price: tuple[str, str],
    description: str | None = None,
    status: str = "active",
    attributes: Sequence[tuple[str, str]] = (),
    category_id: int | None = None,
    weight_grams: int | None = None,
    causation_id: str | None = None,
    traceparent: str | None = None,
) -> Product:
    """A new product (stock 0: stock is received through the monolith's inventory)."""
    ensure_writable(connection)
    errors: dict[str, list[str]] = {}
    clean_sku = sku.strip().upper()
    if not clean_sku:
        errors.setdefault("sku", []).append("This field may not be blank.")
    elif len(clean_sku) > MAX_SKU:
        errors.setdefault("sku", []).append(f"At most {MAX_SKU} characters.")
    clean_name = _clean_name(name, errors)
    money = _clean_price(price, errors)
    clean_status = _clean_status(status, errors)
    clean_attributes = _clean_attributes(attributes, errors)
    _check_category(connection, category_id, errors)
    _raise_if(errors)
    assert money is not None
    assert clean_status is not None
    # Two creates of one sku serialise here; the second sees the first's row.
    lock = text("SELECT pg_advisory_xact_lock(hashtext(:k))")
    connection.execute(lock, {"k": f"sku:{clean_sku}"})
    taken = connection.execute(
        select(products.c.legacy_id).where(products.c.sku == clean_sku, ~products.c.deleted)
    ).first()
    if taken is not None:
        raise SkuTaken(f"SKU {clean_sku} is already used by another product.",
                       {"sku": [f"A product with SKU {clean_sku} already exists."]})  # fmt: skip
    legacy_id = connection.execute(text(f"SELECT nextval('{PRODUCT_ID_SEQUENCE}')")).scalar_one()
    now = legacy_now()
    product = _build(
        legacy_id=int(legacy_id), sku=clean_sku, name=clean_name,
        description=(description or None), category_legacy_id=category_id, price=money,
        status=clean_status, stock=0, attributes=clean_attributes, weight_grams=weight_grams,
        created_at=now, updated_at=now, version=0,
    )  # fmt: skip
    _legacy_fit(product)
    recorded = record_product(
        connection, product, changed=ALL_COLUMNS, headers=_event_headers(causation_id, traceparent)
    )
    assert recorded is not None, "a client write is never a sync apply"
    product = dataclasses.replace(product, version=recorded.version)
    _write_row(connection, product, insert=True)
    return product


def update_product(
    connection: Connection,
    legacy_id: int,
    changes: ProductChanges,
    *,
    causation_id: str | None = None,
    traceparent: str | None = None,
) -> Product:
    ensure_writable(connection)
    record = connection.execute(
        select(products)
        .where(products.c.legacy_id == legacy_id, ~products.c.deleted)
        .with_for_update()
    ).first()
    if record is None:
        raise ProductNotFound(f"Product {legacy_id} not found.")
    current = product_from_record(record)
    errors: dict[str, list[str]] = {}
    updates: dict[str, Any] = {}
    if not isinstance(changes.name, _Unset):
        updates["name"] = _clean_name(changes.name, errors)
    if not isinstance(changes.description, _Unset):
        updates["description"] = changes.description or None
    if not isinstance(changes.price, _Unset):
        money = _clean_price(changes.price, errors)
        if money is not None:
            updates["price"] = money
            updates["legacy_currency"] = None  # a new price is written in canonical form
    if not isinstance(changes.status, _Unset):
        updates["status"] = _clean_status(changes.status, errors)
    if not isinstance(changes.attributes, _Unset):
        updates["attributes"] = _clean_attributes(changes.attributes, errors)
    if not isinstance(changes.category_id, _Unset):
        _check_category(connection, changes.category_id, errors)
        updates["category_legacy_id"] = changes.category_id
    _raise_if(errors)
    if not updates:
        return current
    product = dataclasses.replace(current, **updates, updated_at=legacy_now())
    _legacy_fit(product)
    changed = [c for name in changes.fields() for c in _COLUMNS[name]] + ["updated"]
    recorded = record_product(
        connection, product, changed=changed, headers=_event_headers(causation_id, traceparent)
    )
    assert recorded is not None, "a client write is never a sync apply"
    product = dataclasses.replace(product, version=recorded.version)
    _write_row(connection, product, insert=False)
    return product
