"""``strangler step status | apply`` against a real facade and real upstreams on loopback."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import Result
from contracts.ledger import Verification, record
from contracts.paths import PACTS_DIR
from contracts.servers import UvicornThread
from facade.app import create_app
from facade.settings import FacadeSettings
from strangler.cli import app
from strangler.steps import PLAN_DIR
from typer.testing import CliRunner

from strangler import ownership

TOKEN = "step-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Answer = Callable[[str], Any]


class JsonApp:
    """An upstream answering ``answer(path)`` as JSON; says who it is in a header."""

    def __init__(self, name: str, answer: Answer) -> None:
        self.name = name
        self.answer = answer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                done = message["type"].replace(".startup", ".startup.complete")
                done = done.replace(".shutdown", ".shutdown.complete")
                await send({"type": done})
                if message["type"] == "lifespan.shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        body = json.dumps(self.answer(scope["path"])).encode()
        headers = [(b"content-type", b"application/json"), (b"x-upstream", self.name.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class MetricsApp:
    """What the outbox relay serves on its metrics port."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        text = (
            "# TYPE outbox_backlog_rows gauge\noutbox_backlog_rows 3.0\n"
            "# TYPE outbox_oldest_unpublished_age_seconds gauge\n"
            "outbox_oldest_unpublished_age_seconds 1.5\n"
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": text.encode()})


class NoParity:
    """A facade from before the parity endpoint: it answers 404 there."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_strangler/api/parity":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b'{"detail": "no"}'})
            return
        await self.inner(scope, receive, send)


def product(path: str) -> dict[str, Any]:
    return {"path": path, "name": "Kettle", "price": "12.50"}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Stack:
    def __init__(self, servers: contextlib.ExitStack, tmp: Path) -> None:
        self.servers = servers
        self.tmp = tmp
        self.facade = ""
        self.monolith = ""
        self.catalog = ""

    def serve(self, asgi: Any) -> str:
        return self.servers.enter_context(UvicornThread(asgi))

    def start(
        self,
        monkeypatch: pytest.MonkeyPatch,
        *,
        catalog: Answer = product,
        step: str = "step-1-facade",
        wrap: Callable[[Any], Any] = lambda a: a,
    ) -> Stack:
        self.monolith = self.serve(JsonApp("monolith", product))
        self.catalog = self.serve(JsonApp("catalog", catalog))
        # The routes files fill upstream addresses from these; the facade reads them at start.
        monkeypatch.setenv("MONOLITH_URL", self.monolith)
        monkeypatch.setenv("CATALOG_URL", self.catalog)
        monkeypatch.setenv("FACADE_CONTRACT_GATE", "off")
        settings = FacadeSettings(
            routes_file=PLAN_DIR / step / "routes.yaml",
            admin_token=TOKEN,
            redis_url=None,
            access_log=False,
            health_interval=0.2,
            audit_log_file=self.tmp / "audit.jsonl",
        )
        self.facade = self.serve(wrap(create_app(settings)))
        # The CLI runs where these are unset: the live addresses must survive an apply.
        monkeypatch.delenv("MONOLITH_URL")
        monkeypatch.delenv("CATALOG_URL")
        return self

    def admin(self, path: str) -> Any:
        resp = httpx.get(f"{self.facade}/_strangler/api{path}", headers=AUTH)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def modes(self) -> dict[str, str]:
        return {r["id"]: r["mode"] for r in self.admin("/routes")["routes"]}

    def version(self) -> int:
        return int(self.admin("/routes")["version"])

    def shadow_reads(self, count: int) -> None:
        """Catalog reads through the facade, then until the comparisons are counted."""
        with httpx.Client(base_url=self.facade) as client:
            for i in range(count):
                assert client.get(f"/api/products/{i}/").status_code == 200
                assert client.get("/api/categories/").status_code == 200

        def compared() -> bool:
            routes = {r["route"]: r for r in self.admin("/parity")["routes"]}
            return all(
                routes.get(rid, {}).get("compared", 0) >= count
                for rid in ("catalog-products", "catalog-categories")
            )

        wait_for(compared, f"{count} shadow comparisons per route")

    def cli(self, *args: str, ledger: Path | None = None, plan: Path = PLAN_DIR) -> Result:
        common = ["--facade-url", self.facade, "--plan", str(plan)]
        common += ["--ledger", str(ledger or self.tmp / "empty-ledger.json")]
        if args[0] == "status" and "--relay-metrics-url" not in args:
            common += ["--relay-metrics-url", "http://127.0.0.1:9/metrics"]
        return CliRunner().invoke(
            app,
            ["step", *args, *common],
            env={"FACADE_ADMIN_TOKEN": TOKEN, "COLUMNS": "250", "USER": "tester"},
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with contextlib.ExitStack() as servers:
        yield Stack(servers, tmp_path)


@pytest.fixture
def plan_with_step_3(tmp_path: Path) -> Path:
    """The real plan, with step 3 ready to apply and a parity sample a test can reach."""
    plan = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, plan, ignore=shutil.ignore_patterns("*.md"))
    manifest = plan / "step-3-catalog-reads" / "step.yaml"
    document = yaml.safe_load(manifest.read_text())
    document["status"] = "in-progress"
    document["gates"]["parity"]["min_compared"] = 5
    manifest.write_text(yaml.safe_dump(document))
    return plan


def green_ledger(path: Path) -> Path:
    for pact in sorted(PACTS_DIR.glob("*-catalog-api.json")):
        record(path, Verification("catalog", pact, passed=True, interactions=6))
    return path


def test_status_recognises_the_running_step(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.start(monkeypatch)
    result = stack.cli("status", "--relay-metrics-url", stack.serve(MetricsApp()))
    assert result.exit_code == 0, result.output
    assert "the live routes are step-1-facade (done)" in result.stdout
    assert "catalog-products" in result.stdout
    assert "not green" in result.stdout  # an empty ledger proves nothing about the service
    assert "outbox: 3 unpublished row(s), oldest 1.5 s old" in result.stdout
    assert "next: step-2-catalog-shadow (done)" in result.stdout


def test_apply_step_2_then_roll_back_to_step_1(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.start(monkeypatch)
    before = stack.version()

    applied = stack.cli("apply", "2")
    assert applied.exit_code == 0, applied.output
    assert "catalog-products: monolith -> shadow" in applied.stdout
    assert "catalog-categories: monolith -> shadow" in applied.stdout
    assert "roll back with: strangler step apply 1" in applied.stdout
    assert stack.version() == before + 1
    assert stack.modes() == {
        "catalog-products": "shadow",
        "catalog-categories": "shadow",
        "default": "monolith",
    }
    # the upstreams kept the addresses the facade runs with, not the file's defaults
    live = stack.admin("/config")["upstreams"]
    assert live["monolith"]["instances"] == [stack.monolith]
    assert live["catalog"]["instances"] == [stack.catalog]
    stack.shadow_reads(3)

    status = stack.cli("status", "--relay-metrics-url", "http://127.0.0.1:9/metrics")
    assert status.exit_code == 0, status.output
    assert "the live routes are step-2-catalog-shadow (done)" in status.stdout
    assert "parity catalog-products: compared 3, matched 3, mismatched 0" in status.stdout
    assert "relay metrics not reachable at http://127.0.0.1:9/metrics" in status.stdout
    assert "roll back: strangler step apply 1" in status.stdout

    again = stack.cli("apply", "step-2-catalog-shadow")
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.stdout
    assert stack.version() == before + 1

    back = stack.cli("apply", "1")
    assert back.exit_code == 0, back.output
    assert "catalog-products: shadow -> monolith" in back.stdout
    assert set(stack.modes().values()) == {"monolith"}
    entries = stack.admin("/audit?limit=5")["entries"]
    assert entries[0]["who"] == "admin:tester:step-apply:step-1-facade"


def test_a_planned_step_is_refused(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, plan, ignore=shutil.ignore_patterns("*.md"))
    manifest = plan / "step-6-retire" / "step.yaml"
    manifest.write_text(re.sub(r"(?m)^status: .*$", "status: planned", manifest.read_text()))
    stack.start(monkeypatch)
    before = stack.version()
    result = stack.cli("apply", "6", plan=plan)
    assert result.exit_code == 2
    assert "step-6-retire is planned, not ready to apply" in result.stderr
    unknown = stack.cli("apply", "9")
    assert unknown.exit_code == 2
    assert "no step '9'; the plan has: 0 (step-0-monolith), 1 (step-1-facade)" in unknown.stderr
    assert stack.version() == before


def test_dry_run_changes_nothing(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.start(monkeypatch)
    before = stack.version()
    result = stack.cli("apply", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "catalog-products: monolith -> shadow" in result.stdout
    assert "dry run: nothing was applied" in result.stdout
    assert stack.version() == before
    assert set(stack.modes().values()) == {"monolith"}


def test_a_failing_contract_gate_refuses_and_force_applies_loudly(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, plan_with_step_3: Path
) -> None:
    stack.start(monkeypatch, step="step-2-catalog-shadow")
    stack.shadow_reads(5)
    before = stack.version()

    refused = stack.cli("apply", "3", plan=plan_with_step_3)
    assert refused.exit_code == 1, refused.output
    assert "gate contracts catalog-products -> catalog: FAIL" in refused.stdout
    assert "shop-web-catalog-api.json was never verified against catalog" in refused.stdout
    assert "gate parity >= 99.50% over >= 5 comparisons: pass" in refused.stdout
    assert "refused: 2 gate(s) failed; nothing was changed" in refused.stderr
    assert stack.version() == before
    assert stack.modes()["catalog-products"] == "shadow"

    dry = stack.cli("apply", "3", "--dry-run", plan=plan_with_step_3)
    assert dry.exit_code == 1, dry.output  # a dry run says whether the real one would pass

    forced = stack.cli("apply", "3", "--force", plan=plan_with_step_3)
    assert forced.exit_code == 0, forced.output
    assert "WARNING: --force overrides failed gate(s)" in forced.stderr
    assert stack.modes() == {
        "catalog-products": "canary",  # the facade's ramp takes it on from here
        "catalog-categories": "canary",
        "catalog-product-writes": "monolith",
        "default": "monolith",
    }
    entries = stack.admin("/audit?limit=5")["entries"]
    assert entries[0]["who"] == "admin:tester:step-apply:step-3-catalog-reads:forced"
    route = stack.admin("/routes/catalog-products")
    assert (route["percent"], route["ramp"]["steps"]) == (5.0, [5.0, 25.0, 50.0, 100.0])
    write = httpx.post(f"{stack.facade}/api/products/", json={})
    assert write.headers["x-upstream"] == "monolith"


def test_green_gates_apply_step_3_and_status_says_so(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, plan_with_step_3: Path, tmp_path: Path
) -> None:
    stack.start(monkeypatch, step="step-2-catalog-shadow")
    stack.shadow_reads(5)
    ledger = green_ledger(tmp_path / "ledger.json")
    result = stack.cli("apply", "3", ledger=ledger, plan=plan_with_step_3)
    assert result.exit_code == 0, result.output
    assert "gate contracts catalog-products -> catalog: pass" in result.stdout
    assert "catalog-products: shadow -> canary 5% (also methods, fallback, ramp)" in result.stdout
    assert "catalog-product-writes: (absent) -> monolith" in result.stdout
    assert "roll back with: strangler step apply 2" in result.stdout
    status = stack.cli("status", ledger=ledger, plan=plan_with_step_3)
    assert "the live routes are step-3-catalog-reads (in-progress)" in status.stdout
    # One green verification recorded; every other pact/implementation pair counts as not.
    assert re.search(r"contracts: 1/\d+ verification\(s\) green", status.stdout)


def test_a_parity_gate_below_its_rate_refuses(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, plan_with_step_3: Path, tmp_path: Path
) -> None:
    stack.start(
        monkeypatch, step="step-2-catalog-shadow", catalog=lambda p: {**product(p), "price": "9"}
    )
    stack.shadow_reads(5)
    ledger = green_ledger(tmp_path / "ledger.json")
    result = stack.cli("apply", "3", ledger=ledger, plan=plan_with_step_3)
    assert result.exit_code == 1, result.output
    assert "catalog-products: 0.00% of 5 matched: below 99.50%" in result.stdout
    assert stack.modes()["catalog-products"] == "shadow"


def test_without_a_parity_endpoint_status_and_the_gate_say_so(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, plan_with_step_3: Path, tmp_path: Path
) -> None:
    stack.start(monkeypatch, step="step-2-catalog-shadow", wrap=NoParity)
    status = stack.cli("status")
    assert status.exit_code == 0, status.output
    assert "parity: unavailable" in status.stdout
    ledger = green_ledger(tmp_path / "ledger.json")
    result = stack.cli("apply", "3", ledger=ledger, plan=plan_with_step_3)
    assert result.exit_code == 1, result.output
    assert "the facade has no parity endpoint" in result.stdout


def test_a_custom_table_is_reported_with_its_differences(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.start(monkeypatch)
    changed = httpx.put(
        f"{stack.facade}/_strangler/api/routes/catalog-products",
        headers=AUTH,
        json={"mode": "shadow"},
    )
    assert changed.status_code == 200, changed.text
    result = stack.cli("status")
    assert result.exit_code == 0, result.output
    assert "the live routes are custom: closest is step-2-catalog-shadow" in result.stdout
    assert "route catalog-categories: mode is 'monolith', step has 'shadow'" in result.stdout


class FakeOwnership:
    """The two sides' freeze flags, without databases; each switch notes where the
    catalog writes were routed at that moment."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.owner: ownership.Side = "monolith"
        self.switches: list[tuple[str, str]] = []

    def status(self, dbs: ownership.Databases) -> ownership.Ownership:
        return ownership.Ownership({s: s != self.owner for s in ownership.SIDES})

    def switch(self, dbs: ownership.Databases, to: ownership.Side, **_: Any) -> ownership.Lag:
        self.switches.append((to, self.stack.modes().get("catalog-writes", "(absent)")))
        self.owner = to
        return ownership.Lag()


def test_step_4_moves_catalog_writes_to_the_service_and_step_3_moves_them_back(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stack.start(monkeypatch, step="step-3-catalog-reads")
    fake = FakeOwnership(stack)
    monkeypatch.setattr(ownership, "status", fake.status)
    monkeypatch.setattr(ownership, "switch", fake.switch)
    monkeypatch.setattr("strangler.step_cli.databases", lambda *_: ownership.Databases("", ""))
    ledger = green_ledger(tmp_path / "ledger.json")

    # Nothing proves the service keeps the write endpoints' contracts: the gate refuses.
    refused = stack.cli("apply", "4", ledger=ledger)
    assert refused.exit_code == 1, refused.output
    assert "ownership catalog: writes monolith -> service" in refused.stdout
    assert "gate contracts catalog-writes -> catalog: FAIL" in refused.stdout
    assert "gate contracts catalog-products" not in refused.stdout  # already the service's
    assert fake.switches == []

    forced = stack.cli("apply", "4", "--force", ledger=ledger)
    assert forced.exit_code == 0, forced.output
    assert "catalog-writes: (absent) -> extracted" in forced.stdout
    assert "ownership catalog: writes now go to the service" in forced.stdout
    assert fake.switches == [("service", "extracted")]  # once the routes reach the service
    for method in ("POST", "PATCH"):
        write = httpx.request(method, f"{stack.facade}/v2/products/7", json={})
        assert write.headers["x-upstream"] == "catalog"
    legacy = httpx.post(f"{stack.facade}/api/products/", json={})
    assert legacy.headers["x-upstream"] == "monolith"  # where it answers 423 from now on
    again = stack.cli("apply", "4", ledger=ledger)
    assert (again.exit_code, "nothing to change" in again.stdout) == (0, True)

    back = stack.cli("apply", "3", ledger=ledger)
    assert back.exit_code == 0, back.output
    assert "ownership catalog: writes service -> monolith" in back.stdout
    assert fake.switches[-1] == ("monolith", "extracted")  # before the write route goes
    assert "catalog-writes" not in stack.modes()
    assert stack.cli("apply", "2", ledger=ledger).exit_code == 0
    assert len(fake.switches) == 2  # leaving step 3 moves no ownership
