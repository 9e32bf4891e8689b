"""Integration events the monolith's outbox emits about the catalog, and their translation.

Every event is an envelope (identity, type, aggregate, per-aggregate version, time,
headers) around a payload. Upsert-like events carry the *full* legacy row after the
change, never a diff: a consumer that applies "newest version wins" is then idempotent
and order-tolerant per aggregate, and a missed event is healed by the next one. See
``acl/README.md`` for the schema and examples.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from acl.catalog import quirks
from acl.catalog.domain import Category, Product
from acl.catalog.legacy import LegacyCategoryRow, LegacyProductRow
from acl.catalog.legacy_json import format_price
from acl.catalog.rows import category_from_row, product_from_row
from acl.errors import FieldProblem, UntranslatableRecord, untranslatable

PRODUCT_AGGREGATE = "catalog.product"
CATEGORY_AGGREGATE = "catalog.category"


class EventType(enum.StrEnum):
    PRODUCT_UPSERTED = "catalog.product.upserted.v1"  # created or changed (full row)
    PRODUCT_STOCK_CHANGED = "catalog.product.stock_changed.v1"  # only qty moved (full row)
    PRODUCT_DELETED = "catalog.product.deleted.v1"  # tombstone
    CATEGORY_UPSERTED = "catalog.category.upserted.v1"
    CATEGORY_DELETED = "catalog.category.deleted.v1"


AGGREGATE_OF = {
    EventType.PRODUCT_UPSERTED: PRODUCT_AGGREGATE,
    EventType.PRODUCT_STOCK_CHANGED: PRODUCT_AGGREGATE,
    EventType.PRODUCT_DELETED: PRODUCT_AGGREGATE,
    EventType.CATEGORY_UPSERTED: CATEGORY_AGGREGATE,
    EventType.CATEGORY_DELETED: CATEGORY_AGGREGATE,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ProductRowPayload(_Strict):
    """``shop_product`` row in JSON: ``prc`` as a decimal string, datetimes naive ISO."""

    id: int
    sku: str
    nm: str
    descr: str
    cat_id: int | None
    prc: str
    cur: str
    st: str
    qty: int
    attrs: str
    wt: int | None
    created: str
    updated: str


class CategoryRowPayload(_Strict):
    id: int
    name: str
    slug: str
    parent_id: int | None
    sort_order: int


class ProductPayload(_Strict):
    row: ProductRowPayload
    # legacy column names that changed; informative only (the row is the truth)
    changed: list[str] = Field(default_factory=list)


class CategoryPayload(_Strict):
    row: CategoryRowPayload


class DeletedPayload(_Strict):
    id: int = Field(ge=1)


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID
    event_type: EventType
    aggregate_type: Literal["catalog.product", "catalog.category"]
    aggregate_id: str
    aggregate_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    headers: dict[str, str] = Field(default_factory=dict)
    payload: dict[str, Any]


# --- what a consumer gets -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventMeta:
    event_id: uuid.UUID
    event_type: EventType
    version: int
    occurred_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProductSnapshot:
    meta: EventMeta
    product: Product  # product.version == meta.version
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProductRemoved:
    meta: EventMeta
    legacy_id: int


@dataclass(frozen=True, slots=True)
class CategorySnapshot:
    meta: EventMeta
    category: Category


@dataclass(frozen=True, slots=True)
class CategoryRemoved:
    meta: EventMeta
    legacy_id: int


CatalogEvent = ProductSnapshot | ProductRemoved | CategorySnapshot | CategoryRemoved


def decode_event(
    raw: bytes | str | Mapping[str, Any],
    *,
    attrs_policy: quirks.AttrsPolicy = quirks.AttrsPolicy.STRICT,
) -> CatalogEvent:
    """Validate an event envelope and translate its payload to the catalog domain.

    Raises ``UntranslatableRecord`` (logged) for anything malformed: a poison event is
    for the consumer to park, never to guess at.
    """
    try:
        if isinstance(raw, Mapping):
            envelope = EventEnvelope.model_validate(raw)
        else:
            envelope = EventEnvelope.model_validate_json(raw)
    except ValidationError as exc:
        raise _invalid("event envelope", _raw_id(raw), exc) from None
    record = str(envelope.event_type)
    if AGGREGATE_OF[envelope.event_type] != envelope.aggregate_type:
        raise untranslatable(
            record,
            envelope.event_id,
            FieldProblem(
                "aggregate_type", "does not match the event type", envelope.aggregate_type
            ),
        )
    meta = EventMeta(
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        version=envelope.aggregate_version,
        occurred_at=envelope.occurred_at.astimezone(UTC),
        headers=dict(envelope.headers),
    )
    payload = envelope.payload
    try:
        match envelope.event_type:
            case EventType.PRODUCT_UPSERTED | EventType.PRODUCT_STOCK_CHANGED:
                product_payload = ProductPayload.model_validate(payload)
                _same_aggregate(envelope, product_payload.row.id)
                product = product_from_row(
                    _product_row(product_payload.row),
                    version=meta.version,
                    attrs_policy=attrs_policy,
                )
                return ProductSnapshot(meta, product, tuple(product_payload.changed))
            case EventType.CATEGORY_UPSERTED:
                category_payload = CategoryPayload.model_validate(payload)
                _same_aggregate(envelope, category_payload.row.id)
                category = category_from_row(
                    category_payload.row.model_dump(), version=meta.version
                )
                return CategorySnapshot(meta, category)
            case EventType.PRODUCT_DELETED | EventType.CATEGORY_DELETED:
                deleted = DeletedPayload.model_validate(payload)
                _same_aggregate(envelope, deleted.id)
                if envelope.event_type is EventType.PRODUCT_DELETED:
                    return ProductRemoved(meta, deleted.id)
                return CategoryRemoved(meta, deleted.id)
    except ValidationError as exc:
        raise _invalid(record, envelope.event_id, exc, prefix="payload") from None
    except FieldProblem as problem:
        raise untranslatable(record, envelope.event_id, problem) from None
    raise AssertionError(f"unhandled event type {envelope.event_type}")  # pragma: no cover


def from_outbox_envelope(message: Mapping[str, Any]) -> dict[str, Any]:
    """The transport envelope the outbox relay sends (``outbox.Envelope``: ``version``,
    ``created_at``, headers of any JSON type) -> this module's event envelope.

    Plain data in and out: the ACL knows the wire shape, not the outbox library. Missing
    keys are left out, so ``decode_event`` reports them as a malformed event.
    """
    mapped: dict[str, Any] = {
        key: message[key]
        for key in ("event_id", "event_type", "aggregate_type", "aggregate_id", "payload")
        if key in message
    }
    if "version" in message:
        mapped["aggregate_version"] = message["version"]
    if "created_at" in message:
        mapped["occurred_at"] = message["created_at"]
    headers = message.get("headers") or {}
    if isinstance(headers, Mapping):
        mapped["headers"] = {str(k): str(v) for k, v in headers.items() if v is not None}
    else:
        mapped["headers"] = headers  # rejected by decode_event
    return mapped


def decode_outbox_message(
    message: Mapping[str, Any], *, attrs_policy: quirks.AttrsPolicy = quirks.AttrsPolicy.STRICT
) -> CatalogEvent:
    """``decode_event`` for what a Celery consumer receives from the outbox relay."""
    return decode_event(from_outbox_envelope(message), attrs_policy=attrs_policy)


def _raw_id(raw: bytes | str | Mapping[str, Any]) -> object:
    return raw.get("event_id") if isinstance(raw, Mapping) else None


def _invalid(
    record: str, record_id: object, exc: ValidationError, prefix: str = ""
) -> UntranslatableRecord:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    field_name = f"{prefix}.{where}" if prefix and where else (where or prefix or "<root>")
    return untranslatable(
        record, record_id, FieldProblem(field_name, first["msg"], first.get("input"))
    )


def _same_aggregate(envelope: EventEnvelope, payload_id: int) -> None:
    if envelope.aggregate_id != str(payload_id):
        raise FieldProblem(
            "aggregate_id", f"payload is about id {payload_id}", envelope.aggregate_id
        )


def _product_row(payload: ProductRowPayload) -> dict[str, object]:
    row: dict[str, object] = payload.model_dump()
    row["created"] = quirks.parse_local_iso(payload.created, "created")
    row["updated"] = quirks.parse_local_iso(payload.updated, "updated")
    return row


# --- what the monolith's outbox writer calls ----------------------------------------------


def product_row_payload(row: LegacyProductRow) -> dict[str, Any]:
    """A ``shop_product`` row as event JSON (decimal as string, naive ISO datetimes)."""
    return {
        "id": row["id"],
        "sku": row["sku"],
        "nm": row["nm"],
        "descr": row["descr"],
        "cat_id": row["cat_id"],
        "prc": _decimal_text(row["prc"]),
        "cur": row["cur"],
        "st": row["st"],
        "qty": row["qty"],
        "attrs": row["attrs"],
        "wt": row["wt"],
        # Full precision: the event carries the row, not the JSON view of it.
        "created": row["created"].isoformat(),
        "updated": row["updated"].isoformat(),
    }


def _decimal_text(value: Decimal) -> str:
    return format_price(value) if value.is_finite() else str(value)


def category_row_payload(row: LegacyCategoryRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "parent_id": row["parent_id"],
        "sort_order": row["sort_order"],
    }


def envelope(
    event_type: EventType,
    *,
    aggregate_id: int,
    version: int,
    payload: Mapping[str, Any],
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON-ready event; the outbox stores these fields as its columns."""
    when = occurred_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("occurred_at must be aware")
    return {
        "event_id": str(event_id or uuid.uuid4()),
        "event_type": str(event_type),
        "aggregate_type": AGGREGATE_OF[event_type],
        "aggregate_id": str(aggregate_id),
        "aggregate_version": version,
        "occurred_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "headers": dict(headers or {}),
        "payload": dict(payload),
    }


def product_upserted(
    row: LegacyProductRow, *, version: int, changed: tuple[str, ...] = (), **meta: Any
) -> dict[str, Any]:
    payload = {"row": product_row_payload(row), "changed": list(changed)}
    return envelope(
        EventType.PRODUCT_UPSERTED, aggregate_id=row["id"], version=version, payload=payload, **meta
    )


def product_stock_changed(row: LegacyProductRow, *, version: int, **meta: Any) -> dict[str, Any]:
    payload = {"row": product_row_payload(row), "changed": ["qty"]}
    return envelope(
        EventType.PRODUCT_STOCK_CHANGED,
        aggregate_id=row["id"],
        version=version,
        payload=payload,
        **meta,
    )


def product_deleted(legacy_id: int, *, version: int, **meta: Any) -> dict[str, Any]:
    return envelope(
        EventType.PRODUCT_DELETED,
        aggregate_id=legacy_id,
        version=version,
        payload={"id": legacy_id},
        **meta,
    )


def category_upserted(row: LegacyCategoryRow, *, version: int, **meta: Any) -> dict[str, Any]:
    return envelope(
        EventType.CATEGORY_UPSERTED,
        aggregate_id=row["id"],
        version=version,
        payload={"row": category_row_payload(row)},
        **meta,
    )


def category_deleted(legacy_id: int, *, version: int, **meta: Any) -> dict[str, Any]:
    return envelope(
        EventType.CATEGORY_DELETED,
        aggregate_id=legacy_id,
        version=version,
        payload={"id": legacy_id},
        **meta,
    )
