"""catalog writes in the service: its own outbox, write freeze, ids, stock lineage

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from outbox.schema import outbox_ddl

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OUTBOX_TABLES = ("outbox", "outbox_aggregate_version")


def upgrade() -> None:
    # The library's producer side, verbatim: the service's writes record their events in
    # the same transaction, and `python -m outbox relay` publishes them to the monolith.
    op.execute(outbox_ddl())
    # Stock stays the monolith's (inventory); this is the monolith version its value came
    # from, so a monolith event that loses the catalog-field tie still carries its stock.
    op.add_column(
        "products",
        sa.Column("stock_version", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute("UPDATE products SET stock_version = version")
    # Products created here get ids the monolith's serial never reaches: both sides may
    # create during the overlap, and the id is the aggregate's identity on both.
    op.execute(
        "CREATE SEQUENCE product_legacy_id_seq AS integer START 1000000000"
        " MINVALUE 1000000000 MAXVALUE 2147483647"
    )
    # One row: are catalog writes refused here? The service starts frozen (the monolith
    # owns writes until `strangler ownership switch catalog --to service`).
    op.create_table(
        "catalog_write_freeze",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), primary_key=True),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id", name="catalog_write_freeze_one_row"),
    )  # fmt: skip
    op.execute("INSERT INTO catalog_write_freeze (id, frozen) VALUES (true, true)")


def downgrade() -> None:
    op.drop_table("catalog_write_freeze")
    op.execute("DROP SEQUENCE IF EXISTS product_legacy_id_seq")
    op.drop_column("products", "stock_version")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify() CASCADE")
    for table in OUTBOX_TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
