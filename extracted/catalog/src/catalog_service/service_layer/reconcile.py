"""Drift between the monolith and the service, per aggregate, on the translated form.

Both sides are brought to the catalog domain (the monolith's rows through the ACL, the
service's rows through its repository mapping), versions left out, and compared by a
checksum per aggregate. The report lists what is missing, extra or different; a repair
asks the monolith to re-emit events for exactly those aggregates through its outbox
(``manage.py catalog_reemit``), so the fix travels the same path as every change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Any

import psycopg
from acl.catalog.domain import Category, Product
from acl.catalog.quirks import AttrsPolicy
from acl.catalog.rows import category_from_row, product_from_row
from acl.errors import UntranslatableRecord
from psycopg.rows import dict_row
from sqlalchemy import Engine, select

from catalog_service.adapters.repository import product_from_record
from catalog_service.adapters.tables import categories, products
from catalog_service.service_layer.backfill import CATEGORY_SQL, PRODUCT_SQL
from catalog_service.settings import psycopg_url

PRODUCT = "catalog.product"
CATEGORY = "catalog.category"


@dataclass(frozen=True)
class Drift:
    aggregate_type: str
    aggregate_id: int
    kind: str  # "missing" (not in the service), "extra" (only in the service), "different"
    monolith: str = ""  # checksum (first 12 hex digits)
    service: str = ""
    fields: tuple[str, ...] = ()  # which fields differ


@dataclass
class ReconcileReport:
    compared: dict[str, int] = field(default_factory=dict)
    drift: list[Drift] = field(default_factory=list)
    untranslatable: list[tuple[str, int, str]] = field(default_factory=list)

    def ids(self, aggregate_type: str, *kinds: str) -> list[int]:
        return sorted(
            d.aggregate_id
            for d in self.drift
            if d.aggregate_type == aggregate_type and (not kinds or d.kind in kinds)
        )


Aggregate = Product | Category


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()  # one spelling per instant, any tzinfo
    return str(value)


def checksum(value: Aggregate) -> str:
    """A stable digest of the translated aggregate (canonical JSON), without its version."""
    data = asdict(replace(value, version=0))
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=_canonical).encode()).hexdigest()


def _differing(a: Aggregate | None, b: Aggregate | None) -> tuple[str, ...]:
    if a is None or b is None:
        return ()
    return tuple(
        f.name
        for f in dataclass_fields(a)
        if f.name != "version" and getattr(a, f.name) != getattr(b, f.name)
    )


def _legacy(url: str, attrs_policy: AttrsPolicy, report: ReconcileReport) -> tuple[
    dict[int, Aggregate], dict[int, Aggregate]
]:  # fmt: skip
    product_sums: dict[int, Aggregate] = {}
    category_sums: dict[int, Aggregate] = {}
    with psycopg.connect(psycopg_url(url), row_factory=dict_row) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for row in conn.execute(CATEGORY_SQL.format(version="0")).fetchall():
            try:
                category_sums[row["id"]] = category_from_row(row)
            except UntranslatableRecord as exc:
                report.untranslatable.append((CATEGORY, row["id"], str(exc)))
        last = 0
        while True:
            rows = conn.execute(PRODUCT_SQL.format(version="0"), (last, 5000)).fetchall()
            if not rows:
                break
            for row in rows:
                try:
                    product = product_from_row(row, attrs_policy=attrs_policy)
                    product_sums[row["id"]] = product
                except UntranslatableRecord as exc:
                    report.untranslatable.append((PRODUCT, row["id"], str(exc)))
            last = rows[-1]["id"]
    return product_sums, category_sums


def _service(engine: Engine) -> tuple[dict[int, Aggregate], dict[int, Aggregate]]:
    with engine.connect() as conn:
        product_sums: dict[int, Aggregate] = {
            r.legacy_id: product_from_record(r)
            for r in conn.execute(select(products).where(~products.c.deleted))
        }
        category_sums: dict[int, Aggregate] = {
            r.legacy_id: Category(
                legacy_id=r.legacy_id, name=r.name, slug=r.slug,
                parent_legacy_id=r.parent_legacy_id, sort_order=r.sort_order, version=0,
            )
            for r in conn.execute(select(categories).where(~categories.c.deleted))
        }  # fmt: skip
    return product_sums, category_sums


def _compare(
    kind: str, legacy: dict[int, Aggregate], service: dict[int, Aggregate]
) -> Iterator[Drift]:
    for key in sorted(legacy.keys() | service.keys()):
        a, b = legacy.get(key), service.get(key)
        mine = checksum(a) if a is not None else ""
        theirs = checksum(b) if b is not None else ""
        if mine == theirs:
            continue
        what = "missing" if b is None else "extra" if a is None else "different"
        yield Drift(kind, key, what, mine[:12], theirs[:12], _differing(a, b))


def reconcile(
    engine: Engine, source_url: str, *, attrs_policy: AttrsPolicy = AttrsPolicy.LEGACY
) -> ReconcileReport:
    report = ReconcileReport()
    legacy_products, legacy_categories = _legacy(source_url, attrs_policy, report)
    service_products, service_categories = _service(engine)
    report.compared = {PRODUCT: len(legacy_products), CATEGORY: len(legacy_categories)}
    report.drift += _compare(PRODUCT, legacy_products, service_products)
    report.drift += _compare(CATEGORY, legacy_categories, service_categories)
    return report


def reemit_arguments(report: ReconcileReport) -> list[str]:
    """The ``manage.py catalog_reemit`` arguments that repair the drift."""
    args: list[str] = []

    def add(flag: str, ids: Iterable[Any]) -> None:
        joined = ",".join(str(i) for i in ids)
        if joined:
            args.extend([flag, joined])

    add("--products", report.ids(PRODUCT, "missing", "different"))
    add("--categories", report.ids(CATEGORY, "missing", "different"))
    add("--deleted-products", report.ids(PRODUCT, "extra"))
    add("--deleted-categories", report.ids(CATEGORY, "extra"))
    return args
