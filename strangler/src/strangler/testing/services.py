"""pytest plugin: make sure a real PostgreSQL and Redis exist before anything imports settings.

``DATABASE_URL`` and ``REDIS_URL`` from the environment are used as given. When unset,
throwaway embedded servers are started for the session and removed at its end, so
``make test`` needs nothing installed by hand.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from strangler.embedded import throwaway_servers
from strangler.testing.databases import ScratchDatabases

_stack = contextlib.ExitStack()

# Each workspace member keeps its tests in <member>/tests without __init__.py. In
# importlib mode pytest names them "<member>.tests.<module>" and, for a parent package
# it has not seen imported yet, inserts an empty stand-in module that would hide the
# real package of the same name. Importing the real packages first prevents that.
WORKSPACE_PACKAGES = (
    "facade", "acl", "outbox", "catalog_service", "orders_service", "service_kit", "strangler",
    "shop_client", "contracts", "shop_telemetry",
)  # fmt: skip

TEST_DATABASES = ("shop", "catalog", "orders")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    for name in WORKSPACE_PACKAGES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller already exported the URLs
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    root = Path(tempfile.mkdtemp(prefix="strangler-test-"))
    pg, rd = _stack.enter_context(throwaway_servers(root, databases=TEST_DATABASES))
    os.environ.setdefault("DATABASE_URL", pg.url)
    os.environ.setdefault("REDIS_URL", rd.url)
    os.environ["STRANGLER_TEST_EMBEDDED"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()


@pytest.fixture(scope="session")
def scratch_databases() -> Iterator[ScratchDatabases]:
    """Throwaway databases on the test server, dropped at the end of the session."""
    databases = ScratchDatabases()
    yield databases
    databases.drop_all()
