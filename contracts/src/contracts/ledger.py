"""The verification ledger: which implementation verified which pact content, and how.

A JSON file (``.state/contracts/ledger.json`` unless ``CONTRACTS_LEDGER`` says otherwise)
keyed by ``<implementation>/<pact file>``; each entry keeps the pact's content hash
(``facade.gate.content_hash``: everything but ``metadata``), the result, how many
interactions were checked, the first failures and when. It stands in for a Pact Broker's
matrix while consumer and providers ship from one pipeline. The facade's gate reads it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facade.gate import LEDGER_VERSION, content_hash, ledger_key, read_ledger


@dataclass(frozen=True)
class Verification:
    implementation: str
    pact: Path
    passed: bool
    interactions: int
    failures: tuple[str, ...] = ()
    provider_version: str = ""


def record(ledger: Path, verification: Verification) -> dict[str, Any]:
    """Write one result (replacing the previous one for that implementation and pact)."""
    document = json.loads(verification.pact.read_text(encoding="utf-8"))
    entry = {
        "implementation": verification.implementation,
        "pact": verification.pact.name,
        "consumer": document.get("consumer", {}).get("name"),
        "provider": document.get("provider", {}).get("name"),
        "content_hash": content_hash(document),
        "result": "passed" if verification.passed else "failed",
        "interactions": verification.interactions,
        "failures": list(verification.failures[:10]),
        "provider_version": verification.provider_version,
        "verified_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    data = read_ledger(ledger)
    data["version"] = LEDGER_VERSION
    data["entries"][ledger_key(verification.implementation, verification.pact.name)] = entry
    data["entries"] = dict(sorted(data["entries"].items()))
    ledger.parent.mkdir(parents=True, exist_ok=True)
    # Atomic replace: the facade may read the ledger while a verification writes it.
    fd, tmp = tempfile.mkstemp(dir=ledger.parent, prefix=".ledger-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.write("\n")
    Path(tmp).replace(ledger)
    return entry
