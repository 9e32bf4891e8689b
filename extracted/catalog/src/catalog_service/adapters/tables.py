"""The service's tables (SQLAlchemy Core). Persistence shape only: never the API contract.

References between aggregates (product -> category, category -> parent) are by legacy id
without foreign keys: events of different aggregates are not ordered relative to each
other, so a product may arrive before its category.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("legacy_id", Integer, nullable=False, unique=True),
    Column("sku", String(64), nullable=False),
    Column("sku_legacy", String(64)),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("category_legacy_id", Integer),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("currency_legacy", String(8)),
    Column("status", String(16), nullable=False),
    Column("stock", Integer, nullable=False),
    Column("attributes", JSONB, nullable=False),  # [[key, value], ...] in legacy order
    Column("weight_grams", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    # The monolith version the stock came from: stock stays the monolith's in step 4.
    Column("stock_version", BigInteger, nullable=False, server_default="0"),
    Column("deleted", Boolean, nullable=False, server_default="false"),
    Column("synced_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('active', 'hidden', 'discontinued')", name="products_status"),
    CheckConstraint("price_minor >= 0", name="products_price_nonneg"),
    # The public list filters on listed products and sorts by these; id breaks ties.
    Index("products_listed_id", "legacy_id", postgresql_where="status = 'active' AND NOT deleted"),
    Index("products_listed_price", "price_minor", "legacy_id",
          postgresql_where="status = 'active' AND NOT deleted"),
    Index("products_listed_name", "name", "legacy_id",
          postgresql_where="status = 'active' AND NOT deleted"),
    Index("products_listed_created", "created_at", "legacy_id",
          postgresql_where="status = 'active' AND NOT deleted"),
    Index("products_category", "category_legacy_id", "legacy_id"),
    Index("products_sku", "sku"),
)  # fmt: skip

categories = Table(
    "categories",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("legacy_id", Integer, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("slug", String(100), nullable=False),
    Column("parent_legacy_id", Integer),
    Column("sort_order", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, server_default="false"),
    Column("synced_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("categories_slug", "slug"),
)

# One row: catalog writes refused here while true (see service_layer/writes.py).
catalog_write_freeze = Table(
    "catalog_write_freeze",
    metadata,
    Column("id", Boolean, primary_key=True, server_default=text("true")),
    Column("frozen", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("id", name="catalog_write_freeze_one_row"),
)

# Products created by the service take ids from here (1e9 and up, clear of the monolith's).
PRODUCT_ID_SEQUENCE = "product_legacy_id_seq"

# The outbox (``outbox.schema.outbox_ddl``, migration 0003) is the library's too.
OUTBOX_TABLES = ("outbox", "outbox_aggregate_version")

# The inbox (dedupe, applied versions, delivery counts, parked events) is the outbox
# library's (``outbox.schema.inbox_ddl``, created by migration 0002): one implementation.
INBOX_TABLES = ("inbox", "inbox_applied_version", "inbox_deliveries", "parked_events")

# Rows the backfill could not translate (events that cannot be applied are parked in the
# library's ``parked_events`` instead).
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("source", String(32), nullable=False),  # "backfill"
    Column("aggregate_type", String(64), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("event_id", Uuid),
    Column("version", BigInteger),
    Column("reason", Text, nullable=False),
    Column("payload", JSONB),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("resolved_at", DateTime(timezone=True)),
    Index("dead_letters_aggregate", "aggregate_type", "aggregate_id"),
)

# One row per event that took effect (CATALOG_SYNC_AUDIT=true): lets tests prove "no event
# twice" and "versions monotone per aggregate" from the outside.
sync_applied_events = Table(
    "sync_applied_events",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("aggregate_type", String(64), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False,
           server_default=text("clock_timestamp()")),
)  # fmt: skip

backfill_checkpoints = Table(
    "backfill_checkpoints",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_legacy_id", BigInteger, nullable=False),
    Column("rows_done", BigInteger, nullable=False),
    Column("rows_failed", BigInteger, nullable=False),
    # Where the monolith's outbox stood before the snapshot (given by the caller); the
    # relay replays from here so no change made during the backfill is lost.
    Column("source_position", Text),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
)
