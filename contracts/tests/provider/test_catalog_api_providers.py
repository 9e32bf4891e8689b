"""The committed catalog-api pacts, verified against both implementations.

The monolith is the baseline (gunicorn subprocess, states through its services); the
catalog service is the candidate (uvicorn thread, states through its adapters). Both
results go to the ledger the cut-over gate reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from contracts.catalog_states import state_handlers
from contracts.paths import IMPLEMENTATIONS, PACTS_DIR
from contracts.verification import verify_http
from facade.gate import read_pact

HTTP_PACTS = sorted(
    p for p in PACTS_DIR.glob("*.json") if read_pact(p).provider in IMPLEMENTATIONS
    and read_pact(p).endpoints
)  # fmt: skip


def test_there_is_something_to_verify() -> None:
    assert HTTP_PACTS, f"no HTTP pacts in {PACTS_DIR}: run the consumer tests first"


@pytest.mark.parametrize("pact", HTTP_PACTS, ids=lambda p: p.stem)
def test_monolith_honours(pact: Path, monolith_url: str, ledger: Path) -> None:
    if "monolith" not in IMPLEMENTATIONS[read_pact(pact).provider]:
        pytest.skip("not a monolith contract")
    outcome = verify_http(
        pact,
        implementation="monolith",
        base_url=monolith_url,
        state_handler=f"{monolith_url}/_pact/provider-states",
        ledger=ledger,
    )
    assert outcome.passed, outcome.report() + "\n" + outcome.output


@pytest.mark.parametrize("pact", HTTP_PACTS, ids=lambda p: p.stem)
def test_catalog_service_honours(pact: Path, catalog_provider, ledger: Path) -> None:  # type: ignore[no-untyped-def]
    if "catalog" not in IMPLEMENTATIONS[read_pact(pact).provider]:
        pytest.skip("not a catalog contract")
    outcome = verify_http(
        pact,
        implementation="catalog",
        base_url=catalog_provider.url,
        state_handler=state_handlers(catalog_provider.engine),
        ledger=ledger,
    )
    assert outcome.passed, outcome.report() + "\n" + outcome.output
