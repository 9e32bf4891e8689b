# ruff: noqa: E402
"""Fixtures for the outbox tests; the helpers are in outbox_testlib.py."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

# pytest's importlib mode names this file "outbox.tests.conftest" and, not finding a
# package "outbox" next to it, stands in a namespace module for the repository folder outbox/, which
# hides the real package (outbox/src/outbox). Put the real one back before importing it.
_standin = sys.modules.get("outbox")
if _standin is not None and getattr(_standin, "__file__", None) is None:
    del sys.modules["outbox"]
    importlib.import_module("outbox")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outbox_testlib import broker_url, dsn, queue, redis_url  # noqa: F401  (fixtures)
