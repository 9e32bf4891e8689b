"""Fixtures for the outbox tests; the helpers are in outbox_testlib.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outbox_testlib import broker_url, dsn, queue, redis_url  # noqa: F401  (fixtures)
