"""``strangler step status | apply N``: walk the migration plan on a running stack.

Both talk to the facade's admin API like ``strangler routes`` does (``--facade-url`` /
FACADE_URL, the token from FACADE_ADMIN_TOKEN, which the CLI fills from the local
runner's ``.state/admin-token`` when unset). ``apply`` runs the step's gates (the
contract gate of ``strangler contracts can-i-cutover`` for the routes it moves to
canary/extracted that their candidate does not answer yet, and the shadow parity gate
when the step has one), then replaces the
whole route table with the step's routes file in one ``PUT /_strangler/api/config``.
When the step (or the step being left) names who owns a context's writes (``ownership:``
in its manifest), ``apply`` also moves them with ``strangler.ownership.switch``: to a
service after the routes that reach it are live, back to the monolith before the routes
that reach the service go away, so a failed drain changes nothing it cannot explain.
Rolling back is applying the previous step.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import psycopg
import typer
from contracts.cli import matrix_rows
from contracts.paths import PACTS_DIR, ledger_path
from facade.config import ConfigError, RoutesConfig, parse_config
from facade.gate import evaluate, read_ledger, read_pacts
from rich.console import Console
from rich.table import Table

from strangler import decommission, decommission_cli, orders_ownership, ownership
from strangler.config import RELAY_METRICS_PORT
from strangler.config import ConfigError as StackConfigError
from strangler.config import load_config as load_stack_config
from strangler.ownership_cli import databases, orders_databases
from strangler.steps import (
    GATED_MODES,
    PLAN_DIR,
    Context,
    GateResult,
    Owner,
    Plan,
    PlanError,
    Step,
    differences,
    load_plan,
    matching_step,
    mode_label,
    ownership_to_ensure,
    parity_gate,
    parse_metrics,
    route_changes,
    target_document,
    upstream_changes,
)

step_app = typer.Typer(
    help="Walk the migration plan: which step the stack runs, and move it to another.",
    no_args_is_help=True,
)

FacadeURL = Annotated[
    str, typer.Option("--facade-url", envvar="FACADE_URL", help="Base URL of a running facade.")
]
PlanDir = Annotated[
    Path,
    typer.Option("--plan", envvar="STRANGLER_PLAN_DIR", help="The migrations-plan folder."),
]
LedgerOpt = Annotated[
    Path | None,
    typer.Option("--ledger", envvar="CONTRACTS_LEDGER", help="Verification ledger (JSON)."),
]
PactsOpt = Annotated[Path, typer.Option("--pacts", help="Folder of pact files.")]
RelayURL = Annotated[
    str | None,
    typer.Option(
        "--relay-metrics-url",
        envvar="RELAY_METRICS_URL",
        help="The outbox relay's /metrics (default: the local runner's).",
    ),
]
MonolithDsn = Annotated[
    str | None,
    typer.Option(help="The monolith's database, for an ownership switch (default: the stack's)."),
]
ServiceDsn = Annotated[
    str | None,
    typer.Option(help="The service's database, for an ownership switch (default: the stack's)."),
]
LAG_METRICS = ("outbox_backlog_rows", "outbox_oldest_unpublished_age_seconds")


def _consoles() -> tuple[Console, Console]:
    # Made per command so a width given in the environment (COLUMNS) is honoured.
    return Console(), Console(stderr=True)


class Admin:
    """The facade's admin API; a transport failure or an unexpected answer exits 2."""

    def __init__(self, url: str, err: Console, actor: str) -> None:
        token = os.environ.get("FACADE_ADMIN_TOKEN", "")
        headers = {"X-Actor": actor}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        self.err = err
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, "/_strangler/api" + path, **kwargs)
        except httpx.HTTPError as exc:
            self.err.print(f"[red]cannot reach the facade at {self.url}: {exc}[/red]")
            raise typer.Exit(2) from None

    def get(self, path: str, *, missing_ok: bool = False) -> Any:
        resp = self.request("GET", path)
        if missing_ok and resp.status_code == 404:
            return None
        if resp.status_code != 200:
            self.err.print(f"[red]GET {path}: {resp.status_code} {_detail(resp)}[/red]")
            raise typer.Exit(2)
        return resp.json()

    def live(self) -> RoutesConfig:
        try:
            return parse_config(self.get("/config"), env={})
        except ConfigError as exc:
            self.err.print(f"[red]the facade's live table does not parse: {exc}[/red]")
            raise typer.Exit(2) from None


@contextlib.contextmanager
def _admin(url: str, err: Console, actor: str = "") -> Iterator[Admin]:
    admin = Admin(url, err, actor or _user())
    try:
        yield admin
    finally:
        admin.client.close()


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def _plan(root: Path, err: Console) -> Plan:
    try:
        return load_plan(root)
    except PlanError as exc:
        err.print(f"[red]the migration plan in {root} is invalid:[/red]")
        for problem in exc.problems:
            err.print(f"  - {problem}")
        raise typer.Exit(2) from None


def _relay_url(given: str | None) -> str:
    if given:
        return given
    with contextlib.suppress(StackConfigError, OSError):
        return load_stack_config().relay_metrics_url
    return f"http://127.0.0.1:{RELAY_METRICS_PORT}/metrics"


def _outbox_lag(url: str) -> str:
    try:
        resp = httpx.get(url, timeout=2)
    except httpx.HTTPError as exc:
        return f"relay metrics not reachable at {url} ({type(exc).__name__}): lag unknown"
    if resp.status_code != 200:
        return f"relay metrics at {url} answered {resp.status_code}: lag unknown"
    found = parse_metrics(resp.text, LAG_METRICS)
    if not found:
        return f"{url} exposes no outbox metrics: lag unknown"
    backlog = found.get("outbox_backlog_rows")
    age = found.get("outbox_oldest_unpublished_age_seconds")
    parts = []
    if backlog is not None:
        parts.append(f"{backlog:.0f} unpublished row(s)")
    if age is not None:
        parts.append(f"oldest {age:.1f} s old")
    return "outbox: " + ", ".join(parts) + f" (from {url})"


def _step_line(step: Step) -> str:
    return f"{step.id} ({step.status}): {step.manifest.title}"


@step_app.command("status")
def status(
    facade_url: FacadeURL = "http://127.0.0.1:8080",
    plan_dir: PlanDir = PLAN_DIR,
    ledger: LedgerOpt = None,
    pacts: PactsOpt = PACTS_DIR,
    relay_metrics_url: RelayURL = None,
) -> None:
    """Which step the running stack is at: routes, contracts, parity, outbox lag."""
    out, err = _consoles()
    plan = _plan(plan_dir, err)
    with _admin(facade_url, err) as admin:
        live = admin.live()
        version = admin.get("/routes").get("version")
        health = admin.get("/upstreams")
        parity = admin.get("/parity", missing_ok=True)
    exact, closest, diff = matching_step(plan, live)
    out.print(f"facade {facade_url}, route table v{version}")
    if exact is not None:
        out.print(f"[bold green]the live routes are {_step_line(exact)}[/bold green]")
    else:
        out.print("[bold yellow]the live routes are custom[/bold yellow]", end="")
        out.print(f": closest is {closest.id}, differing in" if closest else "")
        for line in diff:
            out.print(f"  - {line}")

    ledger_file = ledger or ledger_path()
    pact_files = read_pacts(pacts)
    try:
        verified = read_ledger(ledger_file)
    except (OSError, ValueError) as exc:
        err.print(f"[red]cannot read the ledger {ledger_file}: {exc}[/red]")
        verified = {"entries": {}}
    by_route = {
        str(r.get("route")): r for r in (parity or {}).get("routes", []) if isinstance(r, dict)
    }
    table = Table(title="routes")
    for col in ("route", "path", "methods", "mode", "upstream", "fallback", "contracts", "parity"):
        table.add_column(col)
    for route in live.routes:
        fallback = live.fallback_of(route)
        contract = ""
        if route.upstream != fallback:
            decision = evaluate(live, route.id, pact_files, verified)
            contract = (
                "[green]green[/green]"
                if decision.allowed
                else f"[red]not green[/red] ({len(decision.reasons)} reason(s))"
            )
        found = by_route.get(route.id)
        shown = ""
        if found is not None:
            rate = found.get("match_rate")
            shown = f"{found.get('matched', 0)}/{found.get('compared', 0)}" + (
                "" if rate is None else f" ({float(rate):.2%})"
            )
        table.add_row(
            route.id,
            route.path,
            ",".join(route.methods or ["*"]),
            mode_label(route),
            route.upstream,
            fallback,
            contract,
            shown,
        )
    out.print(table)

    rows = matrix_rows(pacts, ledger_file)
    green = [r for r in rows if r["result"] == "passed"]
    out.print(f"contracts: {len(green)}/{len(rows)} verification(s) green ({ledger_file})")
    for row in rows:
        if row["result"] != "passed":
            out.print(f"  - {row['pact']} against {row['implementation']}: {row['result']}")

    if parity is None:
        out.print("parity: unavailable (the facade has no /_strangler/api/parity endpoint)")
    elif not by_route:
        out.print("parity: no shadowed route, no comparisons")
    else:
        for rid, found in by_route.items():
            out.print(
                f"parity {rid}: compared {found.get('compared', 0)}, matched "
                f"{found.get('matched', 0)}, mismatched {found.get('mismatched', 0)}, "
                f"match rate {found.get('match_rate')}"
            )

    sick = [name for name, h in health.items() if isinstance(h, dict) and not h.get("healthy")]
    out.print(
        "upstreams: "
        + ", ".join(f"{n} {'unhealthy' if n in sick else 'healthy'}" for n in sorted(health))
    )
    out.print(_outbox_lag(_relay_url(relay_metrics_url)))
    if exact is not None:
        needs = exact.manifest.stack
        out.print(
            f"{exact.id} needs: sync {'on' if needs.sync else 'off'}; "
            f"services {', '.join(needs.services)}"
        )
        later = [s for s in plan.steps if s.number == exact.number + 1]
        if later:
            out.print(f"next: {_step_line(later[0])}")
        out.print(f"roll back: {_undo(plan, exact)}")


def _gates(
    step: Step,
    target: RoutesConfig,
    moved: set[str],
    admin: Admin,
    pacts: Path,
    ledger: Path,
) -> list[GateResult]:
    results: list[GateResult] = []
    gated = [rid for rid in step.manifest.gates.contracts if rid in moved]
    if gated:
        pact_files = read_pacts(pacts)
        try:
            verified = read_ledger(ledger)
        except (OSError, ValueError) as exc:
            return [GateResult("contracts", False, [f"cannot read the ledger {ledger}: {exc}"])]
        for rid in gated:
            decision = evaluate(target, rid, pact_files, verified)
            results.append(
                GateResult(
                    f"contracts {rid} -> {decision.candidate}",
                    decision.allowed,
                    [decision.summary()] if decision.allowed else list(decision.reasons),
                )
            )
    parity = step.manifest.gates.parity
    if parity is not None and moved & set(parity.routes):
        results.append(parity_gate(parity, admin.get("/parity", missing_ok=True)))
    return results


@dataclass(frozen=True)
class Handover:
    """A context whose writes must change hands for the step."""

    context: Context
    current: ownership.Side | None
    wanted: Owner

    def describe(self) -> str:
        now = self.current or "nobody (both sides frozen or both open)"
        return (
            f"ownership {self.context}: writes {now} -> {self.wanted} "
            f"(strangler ownership switch {self.context} --to {self.wanted})"
        )


def _handovers(
    plan: Plan, live: RoutesConfig, step: Step, dbs: Any, err: Console
) -> list[Handover]:
    exact, closest, _ = matching_step(plan, live)
    wanted = ownership_to_ensure(exact or closest, step)
    if not wanted:
        return []
    found = []
    for context, owner in wanted.items():
        try:
            if context == "orders":
                current: ownership.Side | None = orders_ownership.owner(orders_databases(dbs[0]))
            else:
                current = ownership.status(databases(*dbs)).owner
        except psycopg.Error as exc:
            err.print(f"[red]cannot read who owns {context} writes: {exc}[/red]")
            raise typer.Exit(2) from None
        if current != owner:
            found.append(Handover(context, current, owner))
    return found


def _hand_over(
    handovers: list[Handover], dbs: Any, timeout: float, out: Console, err: Console
) -> None:
    """Run the switches; a failed one exits 1 with the flags as they were."""
    for h in handovers:
        try:
            if h.context == "orders":
                how = "importing the order history" if h.wanted == "service" else "draining"
                out.print(f"switching checkout to the {h.wanted} (monolith frozen; {how})")
                final = orders_ownership.switch(orders_databases(dbs[0]), h.wanted, timeout=timeout)
                out.print(
                    f"[bold green]ownership orders: checkout now goes to the {h.wanted}"
                    f"[/bold green]; the monolith's checkout is "
                    f"{'frozen (423)' if h.wanted == 'service' else 'open'}"
                )
                continue
            out.print(
                f"switching {h.context} writes to the {h.wanted} (both frozen while draining)"
            )
            final = ownership.switch(databases(*dbs), h.wanted, timeout=timeout)
        except (ownership.SwitchFailed, psycopg.Error) as exc:
            err.print(f"[bold red]the {h.context} switch failed, flags left as they were:[/] {exc}")
            raise typer.Exit(1) from None
        frozen = ownership.other(h.wanted)
        out.print(
            f"[bold green]ownership {h.context}: writes now go to the {h.wanted}[/bold green]; "
            f"the {frozen} is frozen (its writes answer 423); drained: {final.describe()}"
        )


def _undo(plan: Plan, step: Step) -> str:
    if not step.manifest.rollback:
        return "nothing to go back to"
    back = plan.get(step.manifest.rollback)
    if back.routes_path is None:
        return f"point clients back at the monolith ({back.id} runs without the facade)"
    return f"strangler step apply {back.number}"


@step_app.command("apply")
def apply(
    step_ref: Annotated[str, typer.Argument(metavar="N", help="Step number or id, e.g. 2.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the changes and gates; apply nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Apply even when a gate fails (loudly, into the audit log)."),
    ] = False,
    facade_url: FacadeURL = "http://127.0.0.1:8080",
    plan_dir: PlanDir = PLAN_DIR,
    ledger: LedgerOpt = None,
    pacts: PactsOpt = PACTS_DIR,
    switch_timeout: Annotated[
        float, typer.Option(help="Seconds an ownership switch may wait for the drain.")
    ] = 60.0,
    monolith_dsn: MonolithDsn = None,
    service_dsn: ServiceDsn = None,
) -> None:
    """Run step N's gates, then put its routes file live (and move write ownership when
    the step says so). Roll back: apply N-1."""
    out, err = _consoles()
    plan = _plan(plan_dir, err)
    try:
        step = plan.get(step_ref)
    except KeyError:
        err.print(
            f"[red]no step {step_ref!r}; the plan has: "
            + ", ".join(f"{s.number} ({s.id})" for s in plan.steps)
            + "[/red]"
        )
        raise typer.Exit(2) from None
    if step.status == "planned":
        err.print(
            f"[red]{step.id} is planned, not ready to apply: its routes and gates are not "
            f"built yet (see {step.folder}/).[/red]"
        )
        raise typer.Exit(2)
    if step.routes_path is None:
        err.print(
            f"[red]{step.id} runs without the facade: there is no route table to apply. "
            "Point clients at the monolith to go back to it.[/red]"
        )
        raise typer.Exit(2)
    actor = f"{_user()}:step-apply:{step.id}" + (":forced" if force else "")
    with _admin(facade_url, err, actor) as admin:
        live = admin.live()
        try:
            target = target_document(step.routes_path, live)
        except ConfigError as exc:
            err.print(f"[red]{step.routes_path}: invalid routes file[/red]")
            for problem in exc.problems:
                err.print(f"  - {problem}")
            raise typer.Exit(2) from None
        changes = route_changes(live, target)
        upstreams = upstream_changes(live, target)
        dbs = (monolith_dsn, service_dsn)
        exact, closest, _ = matching_step(plan, live)
        leaving = exact or closest
        handovers = _handovers(plan, live, step, dbs, err)
        same_routes = not changes and not upstreams and not differences(live, target)
        out.print(f"{'dry run: ' if dry_run else ''}apply {_step_line(step)}")
        if same_routes and not handovers:
            out.print(f"[green]the live routes already are {step.id}: nothing to change[/green]")
            return
        out.print(f"changes (route: old mode -> new mode), to undo: {_undo(plan, step)}")
        if same_routes:
            out.print(f"  the live routes already are {step.id}")
        for change in changes:
            also = f" (also {', '.join(change.fields)})" if change.fields else ""
            out.print(
                f"  {change.route}: {mode_label(change.old)} -> {mode_label(change.new)}{also}"
            )
        for line in upstreams:
            out.print(f"  {line}")
        for handover in handovers:
            out.print(f"  {handover.describe()}")

        # As the facade's own gate does: a route its candidate answers already (a rollback
        # from extracted to canary, a finished ramp written down) proves nothing new.
        moved = {
            c.route
            for c in changes
            if c.moved
            and not (
                c.old is not None
                and c.new is not None
                and c.old.mode in GATED_MODES
                and c.old.upstream == c.new.upstream
            )
        }
        results = _gates(step, target, moved, admin, pacts, ledger or ledger_path())
        for gate in results:
            mark = "[green]pass[/green]" if gate.passed else "[red]FAIL[/red]"
            out.print(f"gate {gate.name}: {mark}")
            for line in gate.details:
                out.print(f"  - {line}")
        failed = [g.name for g in results if not g.passed]
        if failed and force:
            err.print(
                f"[bold red]WARNING: --force overrides failed gate(s): {', '.join(failed)}. "
                f"The facade's audit log names this change {actor!r}.[/bold red]"
            )
        if dry_run:
            out.print("dry run: nothing was applied")
            if failed and not force:
                raise typer.Exit(1)
            return
        if failed and not force:
            err.print(
                f"[bold red]refused: {len(failed)} gate(s) failed; nothing was changed[/bold red]"
                " (--force overrides, loudly)"
            )
            raise typer.Exit(1)
        # Back to the monolith before the routes to the service go: a failed drain then
        # leaves everything as it was. Checkout moves before its route does: the service
        # must hold the whole order history (imported once the monolith's checkout is
        # frozen) before the order reads reach it.
        to_monolith = [h for h in handovers if h.wanted == "monolith" or h.context == "orders"]
        to_service = [h for h in handovers if h not in to_monolith]
        _hand_over(to_monolith, dbs, switch_timeout, out, err)
        if same_routes:
            _hand_over(to_service, dbs, switch_timeout, out, err)
            out.print(f"[bold green]{step.id} applied[/bold green]")
            return
        document = target.model_dump(mode="json")
        # The facade gates PUT /routes/{id}; PUT /config gets ?force=true too, so a facade
        # that also gates whole-table swaps (409 with reasons) audits this override.
        resp = admin.request(
            "PUT", "/config", json=document, params={"force": "true"} if force else None
        )
        if resp.status_code >= 400:
            err.print(
                f"[bold red]the facade refused: {resp.status_code} {_detail(resp)}[/bold red]"
            )
            with contextlib.suppress(ValueError):
                body = resp.json()
                if isinstance(body, dict):
                    for reason in [*body.get("reasons", []), *body.get("problems", [])]:
                        err.print(f"  - {reason}")
            raise typer.Exit(1)
        version = resp.json().get("version")
        if to_service:
            out.print(f"route table v{version} is live")
    # To a service once the routes that reach it are live; if the drain fails, the old
    # owner keeps writing and the service's endpoints answer 423 until a switch succeeds.
    if to_service:
        try:
            _hand_over(to_service, dbs, switch_timeout, out, err)
        except typer.Exit:
            err.print(
                f"the routes of {step.id} are live but its writes still go to the old owner: "
                f"retry the switch, or roll back with {_undo(plan, step)}"
            )
            raise
    out.print(f"[bold green]{step.id} applied[/bold green]: route table v{version}")
    cut_over = any(h.wanted == "service" for h in handovers)
    _after_apply(step, leaving, cut_over=cut_over, monolith_dsn=monolith_dsn, out=out, err=err)
    out.print(f"roll back with: {_undo(plan, step)}")


def _after_apply(
    step: Step,
    leaving: Step | None,
    *,
    cut_over: bool,
    monolith_dsn: str | None,
    out: Console,
    err: Console,
) -> None:
    """What the monolith side needs once the routes are live: the decommission snapshot of
    a cut-over, and the read-only legacy tables of a retirement (or their undoing)."""
    try:
        config = load_stack_config()
    except StackConfigError as exc:
        err.print(f"[yellow]no decommission snapshot or table guard: {exc}[/yellow]")
        return
    dsn = monolith_dsn or config.db_url("shop")
    retire, retired_before = step.manifest.retire, leaving and leaving.manifest.retire
    try:
        if retire is not None:
            tables = decommission_cli.read_only_all(dsn, retire)
            out.print(f"legacy tables now read-only for the monolith: {', '.join(tables)}")
            names = ",".join(retire.capabilities)
            out.print(
                f"[bold]restart the monolith with SHOP_RETIRED={names}[/bold]: its "
                f"{' and '.join(retire.capabilities)} routes leave its URL config "
                "(`make demo` does this for you)"
            )
        elif retired_before:
            tables = decommission_cli.writable_all(dsn, retired_before)
            out.print(f"legacy tables writable again: {', '.join(tables)}")
            out.print("[bold]restart the monolith without SHOP_RETIRED[/bold]")
        if cut_over or retire is not None:
            decommission_cli.snapshot_now(config, step.id, monolith_dsn=dsn)
            out.print(f"decommission snapshot {step.id!r} taken (strangler decommission report)")
    except (decommission.DecommissionError, psycopg.Error, httpx.HTTPError) as exc:
        err.print(f"[yellow]decommission bookkeeping incomplete: {exc}[/yellow]")
