"""The catalog consumer: monolith events -> the service's tables, exactly once, in order.

One inbox implementation, the outbox library's (``outbox.Consumer``): per event, ONE
transaction of the catalog database takes the aggregate's advisory lock, checks that the
aggregate is not parked, claims the event id in ``inbox`` (a duplicate is a no-op), skips
a version not newer than the applied one, and only then calls :meth:`CatalogSync.apply`,
which translates through the ACL and upserts on the SAME connection. A failing event is
retried in the worker, then parks its aggregate in ``parked_events``; later events of that
aggregate park behind it, others flow on. ``python -m outbox parked release --consumer
catalog_service.entrypoints.consumer:task catalog.product 42`` replays them after a fix.

The library speaks DB-API; the repositories speak SQLAlchemy. :class:`SqlAlchemyDbApi`
is one SQLAlchemy connection seen through the DB-API calls the library makes, so the
inbox statements and the upserts share one connection and one transaction.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

from acl.catalog.events import ProductSnapshot, decode_outbox_message
from acl.catalog.quirks import AttrsPolicy
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from catalog_service.adapters.tables import sync_applied_events
from catalog_service.domain import ApplyOutcome
from catalog_service.service_layer.handlers import CONSUMER, handle
from catalog_service.service_layer.unit_of_work import ConnectionStores
from catalog_service.service_layer.writes import SYNC_ORIGIN, record_product
from catalog_service.settings import Settings, sqlalchemy_url
from outbox import Consumer, Envelope, mark_transaction_origin

log = logging.getLogger(__name__)


class SqlAlchemyDbApi:
    """A SQLAlchemy connection behind the DB-API surface ``outbox.Consumer`` uses."""

    def __init__(self, connection: Connection) -> None:
        self.sa = connection

    @property
    def closed(self) -> bool:
        return self.sa.closed or self.sa.invalidated

    def cursor(self) -> Any:
        if not self.sa.in_transaction():
            self.sa.begin()
        return self.sa.connection.cursor()  # the psycopg cursor, same transaction

    def commit(self) -> None:
        if self.sa.in_transaction():
            self.sa.commit()

    def rollback(self) -> None:
        if self.sa.in_transaction():
            self.sa.rollback()

    def close(self) -> None:
        self.sa.close()


class CatalogSync:
    """The handler ``outbox.Consumer`` calls, and the connection it runs on (per process)."""

    def __init__(
        self,
        database_url: str,
        *,
        attrs_policy: AttrsPolicy = AttrsPolicy.LEGACY,
        audit: bool = False,
    ) -> None:
        self.database_url = database_url
        self.attrs_policy = attrs_policy
        self.audit = audit
        self._engine: Engine | None = None
        self._pid = 0
        self._current: SqlAlchemyDbApi | None = None

    def connect(self) -> SqlAlchemyDbApi:
        """A fresh connection for this process (the Consumer reuses it across events)."""
        if self._engine is None or self._pid != os.getpid():
            # After a fork the parent's engine must not be used; NullPool: the Consumer
            # holds its one connection itself.
            self._engine = create_engine(sqlalchemy_url(self.database_url), poolclass=NullPool)
            self._pid = os.getpid()
        self._current = SqlAlchemyDbApi(self._engine.connect())
        return self._current

    def apply(self, cursor: Any, envelope: Envelope) -> None:
        """Translate through the ACL and upsert, in the inbox's transaction."""
        assert self._current is not None
        # Whatever this transaction records would be the monolith's own change sent back:
        # the service's writer suppresses this origin (no echo).
        mark_transaction_origin(cursor, SYNC_ORIGIN)
        event = decode_outbox_message(envelope, attrs_policy=self.attrs_policy)
        connection = self._current.sa
        outcome = handle(ConnectionStores(connection), event)
        if outcome is ApplyOutcome.APPLIED and isinstance(event, ProductSnapshot):
            # The same recording step as a client write; here it records nothing (and
            # counts the suppressed echo), so no path can send this change back.
            product = replace(event.product, version=event.meta.version)
            record_product(connection, product, changed=event.changed)
        if self.audit and outcome is ApplyOutcome.APPLIED:
            connection.execute(
                sync_applied_events.insert().values(
                    event_id=event.meta.event_id,
                    aggregate_type=envelope["aggregate_type"],
                    aggregate_id=envelope["aggregate_id"],
                    version=event.meta.version,
                )
            )


def build_consumer(settings: Settings) -> Consumer:
    sync = CatalogSync(
        settings.database_url, attrs_policy=settings.attrs_policy, audit=settings.sync_audit
    )
    consumer = Consumer(
        CONSUMER,
        sync.apply,
        connect=sync.connect,
        ordering="latest",  # full-state snapshots: newest wins, older ones are skipped
        max_attempts=settings.sync_max_attempts,
        backoff_base=settings.sync_backoff_base,
    )
    consumer.sync = sync  # type: ignore[attr-defined]
    return consumer
