"""Unit of work: one database transaction around the repositories it hands out."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy import Connection, Engine

from catalog_service.adapters import repository


class ProductStore(Protocol):
    def upsert_if_newer(self, product: Any) -> bool: ...
    def take_stock(self, legacy_id: int, stock: int, version: int) -> bool: ...
    def tombstone_if_newer(self, legacy_id: int, version: int) -> bool: ...


class CategoryStore(Protocol):
    def upsert_if_newer(self, category: Any) -> bool: ...
    def tombstone_if_newer(self, legacy_id: int, version: int) -> bool: ...


class Stores(Protocol):
    """What the sync handlers write to (a unit of work, or repositories on a connection)."""

    @property
    def products(self) -> ProductStore: ...

    @property
    def categories(self) -> CategoryStore: ...


class ConnectionStores:
    """The repositories on a connection whose transaction the caller owns."""

    def __init__(self, connection: Connection) -> None:
        self.products = repository.ProductRepository(connection)
        self.categories = repository.CategoryRepository(connection)


class AbstractUnitOfWork(abc.ABC):
    products: ProductStore
    categories: CategoryStore

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()  # a no-op after commit

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        self._connection = self._engine.connect()
        self._connection.begin()
        self.products = repository.ProductRepository(self._connection)
        self.categories = repository.CategoryRepository(self._connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            self._connection.close()
            self._connection = None

    @property
    def connection(self) -> Connection:
        assert self._connection is not None, "use the unit of work as a context manager"
        return self._connection

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        if self._connection is not None:
            self._connection.rollback()
