"""The cut-over gate: ledger semantics, ``strangler contracts can-i-cutover``, and the
facade refusing (and, with force, loudly allowing) a canary/extracted switch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from contracts.cli import contracts_app
from contracts.ledger import Verification, record
from contracts.paths import PACTS_DIR
from contracts.servers import UvicornThread
from facade.admin import AdminAPI
from facade.cli import routes_app
from facade.config import parse_config
from facade.gate import evaluate, read_ledger, read_pacts
from facade.metrics import Metrics
from facade.settings import FacadeSettings
from facade.state import RouteState
from typer.testing import CliRunner

PACT = "shop-web-catalog-api.json"
ROUTES = {
    "upstreams": {
        "monolith": {"instances": "http://127.0.0.1:9"},
        "catalog": {"instances": "http://127.0.0.1:9"},
    },
    "routes": [
        {"id": "catalog-products", "path": "/api/products/**", "upstream": "catalog"},
        {"id": "catalog-categories", "path": "/api/categories/**", "upstream": "catalog"},
        {"id": "orders", "path": "/api/orders/**", "upstream": "catalog"},
        {"id": "default", "path": "/**", "upstream": "monolith"},
    ],
}
AUTH = {"Authorization": "Bearer gate-token"}


@pytest.fixture
def pacts(tmp_path: Path) -> Path:
    folder = tmp_path / "pacts"
    folder.mkdir()
    shutil.copyfile(PACTS_DIR / PACT, folder / PACT)
    return folder


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.json"


def _record(ledger: Path, pacts: Path, implementation: str, *, passed: bool = True,
            interactions: int = 6) -> None:  # fmt: skip
    failures = (
        () if passed else ("a request for product 42: $.price -> Expected 12.5 to be a string",)
    )
    record(ledger, Verification(implementation, pacts / PACT, passed, interactions, failures))


def _decide(route: str, pacts: Path, ledger: Path):  # type: ignore[no-untyped-def]
    return evaluate(parse_config(ROUTES, env={}), route, read_pacts(pacts), read_ledger(ledger))


def test_never_verified_is_refused(pacts: Path, ledger: Path) -> None:
    decision = _decide("catalog-products", pacts, ledger)
    assert not decision.allowed
    assert decision.reasons == (f"{PACT} was never verified against catalog",)


def test_green_for_the_candidate_is_allowed_and_the_baseline_alone_is_not(
    pacts: Path, ledger: Path
) -> None:
    _record(ledger, pacts, "monolith")
    assert not _decide("catalog-categories", pacts, ledger).allowed
    _record(ledger, pacts, "catalog")
    decision = _decide("catalog-categories", pacts, ledger)
    assert decision.allowed, decision.reasons
    assert decision.pacts == (PACT,)


def test_a_failed_verification_is_refused_with_its_first_failure(pacts: Path, ledger: Path) -> None:
    _record(ledger, pacts, "catalog", passed=False)
    decision = _decide("catalog-products", pacts, ledger)
    assert not decision.allowed
    assert "failed against catalog" in decision.reasons[0]
    assert "$.price" in decision.reasons[0]


def test_a_vacuous_verification_is_refused(pacts: Path, ledger: Path) -> None:
    _record(ledger, pacts, "catalog", interactions=0)
    assert "zero interactions" in _decide("catalog-products", pacts, ledger).reasons[0]


def test_changing_the_pact_invalidates_the_verification_but_metadata_does_not(
    pacts: Path, ledger: Path
) -> None:
    _record(ledger, pacts, "catalog")
    document = json.loads((pacts / PACT).read_text())
    document["metadata"]["pactRust"] = {"ffi": "9.9.9"}
    (pacts / PACT).write_text(json.dumps(document))
    assert _decide("catalog-products", pacts, ledger).allowed
    document["interactions"][0]["description"] += " (renamed)"
    (pacts / PACT).write_text(json.dumps(document))
    decision = _decide("catalog-products", pacts, ledger)
    assert not decision.allowed
    assert "changed since catalog was verified" in decision.reasons[0]


def test_a_route_no_pact_covers_is_refused(pacts: Path, ledger: Path) -> None:
    _record(ledger, pacts, "catalog")
    decision = _decide("orders", pacts, ledger)
    assert not decision.allowed
    assert "no pact covers route orders" in decision.reasons[0]


def test_can_i_cutover_cli(pacts: Path, ledger: Path, tmp_path: Path) -> None:
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))  # JSON is YAML
    args = ["can-i-cutover", "catalog-products", "-f", str(routes), "--ledger", str(ledger),
            "--pacts", str(pacts)]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(contracts_app, args)
    assert result.exit_code == 1, result.output
    assert "never verified against catalog" in result.output
    _record(ledger, pacts, "catalog")
    result = runner.invoke(contracts_app, args)
    assert result.exit_code == 0, result.output
    assert "yes" in result.output
    result = runner.invoke(contracts_app, [*args[:2], "--candidate", "nope", *args[2:]])
    assert result.exit_code == 1


@pytest.fixture
def facade_admin(pacts: Path, ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    routes = tmp_path / "routes.yaml"
    routes.write_text(json.dumps(ROUTES))
    monkeypatch.setenv("FACADE_CONTRACT_GATE", "on")
    monkeypatch.setenv("FACADE_CONTRACT_PACTS_DIR", str(pacts))
    monkeypatch.setenv("FACADE_CONTRACT_LEDGER", str(ledger))
    settings = FacadeSettings(routes_file=routes, admin_token="gate-token",  # type: ignore[arg-type]
                              audit_log_file=tmp_path / "audit.jsonl")  # fmt: skip
    state = RouteState(settings, Metrics())
    with UvicornThread(AdminAPI(settings, state, None), lifespan="off") as url:  # type: ignore[arg-type]
        yield url, tmp_path / "audit.jsonl"


def test_facade_refuses_a_cutover_the_gate_fails(facade_admin, pacts: Path, ledger: Path) -> None:  # type: ignore[no-untyped-def]
    url, audit = facade_admin
    _record(ledger, pacts, "catalog", passed=False)
    resp = httpx.put(f"{url}/_strangler/api/routes/catalog-products", headers=AUTH,
                     json={"mode": "canary", "percent": 10})  # fmt: skip
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert "refused" in body["detail"]
    assert "$.price" in body["reasons"][0]
    route = httpx.get(f"{url}/_strangler/api/routes/catalog-products", headers=AUTH).json()
    assert route["mode"] == "monolith"
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert entries[-1]["action"] == "contract-gate"
    assert entries[-1]["result"] == "refused"
    # shadow needs no gate: nothing is served by the candidate
    resp = httpx.put(f"{url}/_strangler/api/routes/catalog-products", headers=AUTH,
                     json={"mode": "shadow"})  # fmt: skip
    assert resp.status_code == 200, resp.text


def test_facade_allows_a_green_cutover(facade_admin, pacts: Path, ledger: Path) -> None:  # type: ignore[no-untyped-def]
    url, _ = facade_admin
    _record(ledger, pacts, "catalog")
    resp = httpx.put(f"{url}/_strangler/api/routes/catalog-products", headers=AUTH,
                     json={"mode": "extracted"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.json()["serving"] == "catalog"


def test_force_overrides_loudly_and_is_audited(
    facade_admin, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    url, audit = facade_admin
    runner = CliRunner()
    refused = runner.invoke(
        routes_app,
        ["set", "catalog-products", "extracted", "--facade-url", url],
        env={"FACADE_ADMIN_TOKEN": "gate-token"},
    )
    assert refused.exit_code == 1
    assert "never verified against catalog" in refused.output
    forced = runner.invoke(
        routes_app,
        ["set", "catalog-products", "extracted", "--force", "--facade-url", url],
        env={"FACADE_ADMIN_TOKEN": "gate-token"},
    )
    assert forced.exit_code == 0, forced.output
    assert "WARNING: --force overrides the contract gate" in forced.output
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    override = [e for e in entries if e.get("result") == "FORCED OVERRIDE"]
    assert override
    assert override[-1]["route"] == "catalog-products"
    assert "never verified" in override[-1]["reasons"][0]
    assert entries[-1]["action"] == "set-route"
    # the facade's event, a warning in the process's log
    (event,) = [r for r in caplog.records if r.getMessage() == "contract_gate_forced"]
    assert event.levelname == "WARNING"
    assert "CONTRACT GATE OVERRIDDEN" in event.warning  # type: ignore[attr-defined]


def test_replacing_the_whole_table_passes_the_gate_too(
    facade_admin, pacts: Path, ledger: Path
) -> None:  # type: ignore[no-untyped-def]
    url, audit = facade_admin
    _record(ledger, pacts, "catalog", passed=False)
    document = json.loads(json.dumps(ROUTES))
    for route in document["routes"]:
        if route["id"] == "catalog-products":
            route["mode"] = "extracted"
    resp = httpx.put(f"{url}/_strangler/api/config", headers=AUTH, json=document)
    assert resp.status_code == 409, resp.text
    assert resp.json()["reasons"][0].startswith("catalog-products: ")
    route = httpx.get(f"{url}/_strangler/api/routes/catalog-products", headers=AUTH).json()
    assert route["mode"] == "monolith"  # the table was kept
    forced = httpx.put(f"{url}/_strangler/api/config?force=true", headers=AUTH, json=document)
    assert forced.status_code == 200, forced.text
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [e["result"] for e in entries if e.get("action") == "contract-gate"] == [
        "refused", "FORCED OVERRIDE",
    ]  # fmt: skip
    # A table that leaves the extracted route as it is does not ask the gate again.
    again = httpx.put(f"{url}/_strangler/api/config", headers=AUTH, json=document)
    assert again.status_code == 200, again.text


STAFF_PACT = "shop-staff-catalog-v2-api.json"


def test_a_pact_only_the_service_implements_is_one_row_and_gates_its_route(
    tmp_path: Path, ledger: Path
) -> None:
    from contracts.cli import matrix_rows

    folder = tmp_path / "pacts"
    folder.mkdir()
    shutil.copyfile(PACTS_DIR / STAFF_PACT, folder / STAFF_PACT)
    orphan = json.loads((PACTS_DIR / STAFF_PACT).read_text())
    orphan["provider"]["name"] = "nobody-implements-this"
    (folder / "x-nobody-implements-this.json").write_text(json.dumps(orphan))

    rows = {(r["pact"], r["implementation"]): r["result"] for r in matrix_rows(folder, ledger)}
    assert rows == {
        (STAFF_PACT, "catalog"): "never verified",
        ("x-nobody-implements-this.json", "-"): "no implementation",
    }
    record(ledger, Verification("catalog", folder / STAFF_PACT, True, 6))
    assert matrix_rows(folder, ledger)[0]["result"] == "passed"

    routes = {
        **ROUTES,
        "routes": [{"id": "catalog-writes", "path": "/v2/products/**", "upstream": "catalog"},
                   *ROUTES["routes"]],
    }  # fmt: skip
    config = parse_config(routes, env={})
    refused = evaluate(config, "catalog-writes", read_pacts(folder), read_ledger(ledger))
    # the unverified pact covers the same endpoints: it holds the route back
    assert refused.reasons == ("x-nobody-implements-this.json was never verified against catalog",)
    (folder / "x-nobody-implements-this.json").unlink()
    decision = evaluate(config, "catalog-writes", read_pacts(folder), read_ledger(ledger))
    assert decision.allowed, decision.reasons
    assert decision.pacts == (STAFF_PACT,)
    # the storefront's routes are not held back by the staff pact
    assert evaluate(config, "catalog-products", read_pacts(folder), read_ledger(ledger)).pacts == ()


ORDERS_PACT = "shop-web-orders.json"
PARTICIPANT_PACT = "orders-service-shop-web.json"
STEP_5_ROUTES = {
    "upstreams": {
        "monolith": {"instances": "http://127.0.0.1:9"},
        "orders": {"instances": "http://127.0.0.1:9"},
    },
    "routes": [
        {"id": "orders-checkout", "path": "/api/checkout/**", "methods": ["POST"],
         "upstream": "orders"},
        {"id": "orders-reads", "path": "/api/orders/**", "methods": ["GET", "HEAD"],
         "upstream": "orders"},
        {"id": "default", "path": "/**", "upstream": "monolith"},
    ],
}  # fmt: skip


@pytest.mark.parametrize("route", ["orders-checkout", "orders-reads"])
def test_the_orders_routes_are_gated_by_the_orders_pact(
    route: str, tmp_path: Path, ledger: Path
) -> None:
    folder = tmp_path / "pacts"
    folder.mkdir()
    for name in (ORDERS_PACT, PARTICIPANT_PACT):
        shutil.copyfile(PACTS_DIR / name, folder / name)
    config = parse_config(STEP_5_ROUTES, env={})

    refused = evaluate(config, route, read_pacts(folder), read_ledger(ledger))
    assert not refused.allowed
    assert refused.reasons == (f"{ORDERS_PACT} was never verified against orders",)
    # the baseline's green alone does not move traffic to the candidate
    record(ledger, Verification("monolith", folder / ORDERS_PACT, True, 7))
    assert not evaluate(config, route, read_pacts(folder), read_ledger(ledger)).allowed
    record(ledger, Verification("orders", folder / ORDERS_PACT, False, 7,
                                ("a guest checkout ...: $.status -> Expected 201",)))  # fmt: skip
    failed = evaluate(config, route, read_pacts(folder), read_ledger(ledger))
    assert not failed.allowed
    assert "failed against orders" in failed.reasons[0]

    record(ledger, Verification("orders", folder / ORDERS_PACT, True, 7))
    decision = evaluate(config, route, read_pacts(folder), read_ledger(ledger))
    assert decision.allowed, decision.reasons
    # the participant pact (the monolith's /_internal endpoints) covers no orders route
    assert decision.pacts == (ORDERS_PACT,)
