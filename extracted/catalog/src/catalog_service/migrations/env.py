"""Alembic environment: the URL comes from the caller's config or the service settings."""

from __future__ import annotations

from alembic import context
from service_kit import migrations

from catalog_service.adapters.tables import INBOX_TABLES, metadata
from catalog_service.settings import get_settings

url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url
# The inbox tables are the outbox library's DDL (migration 0002), not in `metadata`.
migrations.run(url=url, metadata=metadata, foreign_tables=INBOX_TABLES)
