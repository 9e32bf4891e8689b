"""The orders pacts verified against the orders service (the monolith's side runs in
``test_catalog_api_providers.test_monolith_honours``, for every provider it implements).

The service runs in a thread behind the facade's identity bridge (a stand-in that signs
``X-Strangler-Identity`` for the API token a state registered), with the session's real
monolith (gunicorn, its own database) as the checkout saga's participant: the states seed
the monolith's half through its state endpoint and the service's half through its saga.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from contracts.orders_states import state_handlers, wipe
from contracts.paths import IMPLEMENTATIONS, PACTS_DIR
from contracts.verification import verify_http
from facade.gate import read_pact

ORDERS_PACTS = sorted(
    p for p in PACTS_DIR.glob("*.json")
    if "orders" in IMPLEMENTATIONS.get(read_pact(p).provider, ()) and read_pact(p).endpoints
)  # fmt: skip


def test_there_is_an_orders_pact_to_verify() -> None:
    assert ORDERS_PACTS, f"no HTTP pacts for the orders service in {PACTS_DIR}"


@pytest.mark.parametrize("pact", ORDERS_PACTS, ids=lambda p: p.stem)
def test_orders_service_honours(  # type: ignore[no-untyped-def]
    pact: Path, orders_provider, monolith_url: str, ledger: Path
) -> None:
    handlers = state_handlers(orders_provider.engine, orders_provider.settings,
                              monolith_url=monolith_url, users=orders_provider.users)  # fmt: skip
    try:
        outcome = verify_http(
            pact,
            implementation="orders",
            base_url=orders_provider.url,
            state_handler=handlers,
            ledger=ledger,
        )
    finally:
        wipe(orders_provider.engine)
    assert outcome.passed, outcome.report() + "\n" + outcome.output
    assert outcome.interactions == len(read_pact(pact).endpoints)
