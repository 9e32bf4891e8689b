"""one inbox: the outbox library's inbox tables replace the service's own

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from outbox.schema import inbox_ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The library's consumer side, verbatim (inbox, inbox_applied_version, inbox_deliveries,
# parked_events); no other copy of its shape exists in this service.
INBOX_TABLES = ("parked_events", "inbox_deliveries", "inbox_applied_version", "inbox")


def upgrade() -> None:
    op.drop_index("inbox_received_at", table_name="inbox")
    op.drop_table("inbox")
    op.drop_table("parked_aggregates")
    op.execute(inbox_ddl())
    # Test/audit trail of applied events (filled only with CATALOG_SYNC_AUDIT=true): one
    # row per event that took effect, in the same transaction. No unique key on purpose.
    op.create_table(
        "sync_applied_events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("aggregate_type", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("sync_applied_events")
    for table in INBOX_TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="inbox_pkey"),
    )  # fmt: skip
    op.create_index("inbox_received_at", "inbox", ["received_at"], unique=False)
    op.create_table(
        "parked_aggregates",
        sa.Column("aggregate_type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_id", sa.String(length=64), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_type", "aggregate_id", name="parked_aggregates_pkey"),
    )  # fmt: skip
