"""The committed catalog-api pacts, verified against both implementations.

The monolith is the baseline (gunicorn subprocess, states through its services); the
catalog service is the candidate (uvicorn thread, states through its adapters). Both
results go to the ledger the cut-over gate reads. Each pact is verified against the
implementations ``contracts.paths.IMPLEMENTATIONS`` lists for its provider: the catalog
service's own API (``catalog-v2-api``) against the service only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from contracts.catalog_states import set_writes_frozen, state_handlers
from contracts.paths import IMPLEMENTATIONS, PACTS_DIR
from contracts.verification import verify_http
from facade.gate import read_pact

HTTP_PACTS = sorted(
    p for p in PACTS_DIR.glob("*.json") if read_pact(p).provider in IMPLEMENTATIONS
    and read_pact(p).endpoints
)  # fmt: skip


# Providers whose endpoints are staff only: the verification adds a valid staff identity to
# every request, as the facade does for a signed-in staff user.
STAFF_ONLY = frozenset({"catalog-v2-api"})


def implemented_by(side: str) -> list[Path]:
    return [p for p in HTTP_PACTS if side in IMPLEMENTATIONS[read_pact(p).provider]]


def test_there_is_something_to_verify() -> None:
    assert HTTP_PACTS, f"no HTTP pacts in {PACTS_DIR}: run the consumer tests first"


@pytest.mark.parametrize("pact", implemented_by("monolith"), ids=lambda p: p.stem)
def test_monolith_honours(pact: Path, monolith_url: str, ledger: Path) -> None:
    outcome = verify_http(
        pact,
        implementation="monolith",
        base_url=monolith_url,
        state_handler=f"{monolith_url}/_pact/provider-states",
        ledger=ledger,
    )
    assert outcome.passed, outcome.report() + "\n" + outcome.output


@pytest.mark.parametrize("pact", implemented_by("catalog"), ids=lambda p: p.stem)
def test_catalog_service_honours(  # type: ignore[no-untyped-def]
    pact: Path, catalog_provider, ledger: Path, staff_headers: dict[str, str]
) -> None:
    headers = staff_headers if read_pact(pact).provider in STAFF_ONLY else None
    try:
        outcome = verify_http(
            pact,
            implementation="catalog",
            base_url=catalog_provider.url,
            state_handler=state_handlers(catalog_provider.engine),
            ledger=ledger,
            headers=headers,
        )
    finally:
        set_writes_frozen(catalog_provider.engine, True)  # the service's initial state
    assert outcome.passed, outcome.report() + "\n" + outcome.output
