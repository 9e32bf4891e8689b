"""Throwaway databases on the test server (``DATABASE_URL``), for tests that need a
service database or a legacy schema of their own."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg


class ScratchDatabases:
    """Creates databases named ``<prefix>_<random>``; ``drop_all`` removes them again."""

    def __init__(self, server_url: str | None = None) -> None:
        self.server_url = server_url or os.environ["DATABASE_URL"]
        self.created: list[str] = []

    def create(self, prefix: str) -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return urlunsplit(urlsplit(self.server_url)._replace(path=f"/{name}"))

    def drop_all(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """One throwaway database for the ``with`` block."""
    databases = ScratchDatabases()
    try:
        yield databases.create(prefix)
    finally:
        databases.drop_all()
