"""The service's tables (SQLAlchemy Core). Persistence shape only: never the API contract.

Migration 0001 creates them; the outbox and inbox tables are the outbox library's DDL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# The event store: one append-only stream per order. (order_id, version) is the
# optimistic concurrency check; position orders all events globally.
order_events = Table(
    "order_events",
    metadata,
    Column("order_id", BigInteger, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("position", BigInteger, Identity(), nullable=False, unique=True),
)

# The read model: one row per visible order, kept by the inline projector.
order_summaries = Table(
    "order_summaries",
    metadata,
    Column("order_id", BigInteger, primary_key=True),
    Column("user_id", BigInteger),
    Column("email", Text, nullable=False),
    Column("status", String(24), nullable=False),
    Column("legacy_status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("shipping", JSONB, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("payments", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)

sagas = Table(
    "sagas",
    metadata,
    Column("saga_id", Uuid, primary_key=True),
    Column("order_id", BigInteger, nullable=False, unique=True),
    Column("state", String(16), nullable=False),  # running|compensating|completed|...
    Column("step", String(16), nullable=False),
    Column("idempotency_key", String(64), nullable=False),
    Column("owner", Text, nullable=False),  # user:<id> | guest:<email>
    Column("cart_id", BigInteger),
    Column("card_token", Uuid, nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=False),
    Column("lease_holder", Text),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("cancel_reason", Text),
    Column("created", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

saga_steps = Table(
    "saga_steps",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("saga_id", Uuid, nullable=False),
    Column("step", String(16), nullable=False),
    Column("command_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),  # sent|succeeded|failed|compensated
    Column("response", JSONB),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The simulated payment service provider's own records (see adapters/gateway.py).
gateway_cards = Table(
    "gateway_cards",
    metadata,
    Column("token", Uuid, primary_key=True),
    Column("number", String(19), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

gateway_authorisations = Table(
    "gateway_authorisations",
    metadata,
    Column("idempotency_key", String(64), primary_key=True),
    Column("token", Uuid, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("approved", Boolean, nullable=False),
    Column("code", String(32), nullable=False),
    Column("ref", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # authorised|captured|voided|refunded|declined
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

backfill_checkpoints = Table(
    "backfill_checkpoints",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_legacy_id", BigInteger, nullable=False),
    Column("rows_done", BigInteger, nullable=False),
    Column("rows_failed", BigInteger, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("source", String(32), nullable=False),
    Column("record_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# New orders and payments take ids from here (1e9 and up, clear of the monolith's serials).
ORDER_ID_SEQUENCE = "order_legacy_id_seq"
PAYMENT_ID_SEQUENCE = "payment_legacy_id_seq"

OUTBOX_TABLES = ("outbox", "outbox_aggregate_version")
INBOX_TABLES = ("inbox", "inbox_applied_version", "inbox_deliveries", "parked_events")
