"""Where the committed pacts and the verification ledger live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PACTS_DIR = REPO_ROOT / "contracts" / "pacts"
"""Committed ``<consumer>-<provider>.json`` files: the contracts themselves."""


def ledger_path() -> Path:
    """``CONTRACTS_LEDGER`` or ``.state/contracts/ledger.json`` under the repository root."""
    raw = os.environ.get("CONTRACTS_LEDGER")
    return Path(raw) if raw else REPO_ROOT / ".state" / "contracts" / "ledger.json"


# The logical provider in a pact -> the implementations that must honour it. The names
# are the facade's upstream names, so the gate can ask "is the route's upstream green?".
IMPLEMENTATIONS: dict[str, tuple[str, ...]] = {
    "catalog-api": ("monolith", "catalog"),
    "catalog-events": ("monolith",),
}
