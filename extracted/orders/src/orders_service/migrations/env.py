"""Alembic environment: the URL comes from the caller's config or the service settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from orders_service.adapters.tables import INBOX_TABLES, OUTBOX_TABLES, metadata
from orders_service.settings import get_settings, sqlalchemy_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database_url


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The outbox and inbox tables are the outbox library's DDL (migration 0001).
    return not (type_ == "table" and name in (*INBOX_TABLES, *OUTBOX_TABLES))


def run_offline() -> None:
    context.configure(url=sqlalchemy_url(url), target_metadata=metadata, literal_binds=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata,
                              include_object=include_object)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
