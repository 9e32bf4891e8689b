"""The Alembic environment every service runs: online or offline, one metadata.

A service's ``migrations/env.py`` names its metadata, its URL and the tables Alembic must
leave alone (the outbox library's inbox/outbox DDL, created by plain migrations and not
part of the service's ``metadata``), then calls ``run``.
"""

from __future__ import annotations

from collections.abc import Collection

from alembic import context
from sqlalchemy import MetaData, create_engine

from service_kit.settings import sqlalchemy_url


def run(*, url: str, metadata: MetaData, foreign_tables: Collection[str] = ()) -> None:
    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        return not (type_ == "table" and name in foreign_tables)

    if context.is_offline_mode():
        context.configure(url=sqlalchemy_url(url), target_metadata=metadata, literal_binds=True,
                          include_object=include_object)  # fmt: skip
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata,
                              include_object=include_object)  # fmt: skip
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
