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
# A capability only one side has gets its own provider name, so it is verified (and shown
# in the matrix) against that side alone: the monolith has no /v2 API and does not relay
# the catalog service's outbox.
IMPLEMENTATIONS: dict[str, tuple[str, ...]] = {
    "catalog-api": ("monolith", "catalog"),
    "catalog-events": ("monolith",),
    "catalog-v2-api": ("catalog",),
    "catalog-service-events": ("catalog",),
    # Step 5: checkout and the order reads (the monolith is the baseline, the orders service
    # the candidate); the monolith as the saga's participant; the orders service's events.
    "orders": ("monolith", "orders"),
    "shop-web": ("monolith",),
    "orders-service": ("orders",),
}
