"""Fixtures for the cross-component tests (see synclib.py)."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from strangler.testing.databases import scratch_database

sys.path.insert(0, str(Path(__file__).resolve().parent))

AMQP_URL = os.environ.get("OUTBOX_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def catalog_db() -> Iterator[str]:
    """A fresh, migrated catalog service database."""
    from catalog_service.adapters.migrate import upgrade

    with scratch_database("catalog_x") as url:
        upgrade(url)
        yield url


@pytest.fixture
def orders_db() -> Iterator[str]:
    """A fresh, migrated orders service database."""
    from orders_service.adapters.migrate import upgrade

    with scratch_database("orders_x") as url:
        upgrade(url)
        yield url


def rabbitmq_url() -> str:
    if os.environ.get("STRANGLER_NO_RABBITMQ") == "1":
        pytest.skip("STRANGLER_NO_RABBITMQ=1: RabbitMQ tests skipped on purpose")
    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 3):
            pass
    except OSError as exc:
        pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL} ({exc}); start it or set "
                    "STRANGLER_NO_RABBITMQ=1")  # fmt: skip
    return AMQP_URL


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    return os.environ["REDIS_URL"] if request.param == "redis" else rabbitmq_url()


@pytest.fixture
def redis_broker() -> str:
    return os.environ["REDIS_URL"]
