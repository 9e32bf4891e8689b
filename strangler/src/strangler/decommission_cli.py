"""``strangler decommission``: cut-over snapshots, the decommission report, read-only tables.

```
strangler decommission snapshot --label step-5-orders-saga   # at a capability's cut-over
strangler decommission report [--json]                       # now vs. each cut-over
strangler decommission read-only [--capability orders]       # guard the legacy tables
strangler decommission writable [--capability orders]        # the rollback
strangler decommission tables                                # which tables are guarded
```
"""

from __future__ import annotations

import json
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from strangler import decommission, retire
from strangler.config import ConfigError, StackConfig, load_config
from strangler.steps import PLAN_DIR, PlanError, Retirement

decommission_app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

Dsn = Annotated[
    str | None, typer.Option(help="the monolith's database (default: the local stack's)")
]


def _config() -> StackConfig:
    try:
        return load_config()
    except ConfigError as exc:
        err.print(f"[bold red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None


def _retirement() -> tuple[str, Retirement]:
    try:
        return decommission.load_retirement(PLAN_DIR)
    except (PlanError, decommission.DecommissionError) as exc:
        err.print(f"[bold red]the plan has no usable retire: section:[/] {exc}")
        raise typer.Exit(2) from None


def _capabilities(retirement: Retirement, chosen: list[str] | None) -> list[str]:
    names = list(retirement.capabilities)
    unknown = sorted(set(chosen or ()) - set(names))
    if unknown:
        err.print(f"[bold red]unknown capability {', '.join(unknown)}[/]; the plan has "
                  f"{', '.join(names)}")  # fmt: skip
        raise typer.Exit(2)
    return list(chosen) if chosen else names


def snapshot_now(
    config: StackConfig, label: str, *, monolith_dsn: str | None = None
) -> decommission.Snapshot:
    """Take and store a snapshot of the local stack (what ``step apply`` calls)."""
    snapshot = decommission.take_snapshot(
        label,
        monolith_dsn=monolith_dsn or config.db_url("shop"),
        monolith_metrics_url=f"{config.monolith_url}/metrics",
        facade_metrics_url=f"{config.facade_url}/metrics",
    )
    decommission.save_snapshot(config.state_dir, snapshot)
    return snapshot


@decommission_app.command("snapshot")
def snapshot_command(
    label: Annotated[str, typer.Option(help="the cut-over, e.g. step-5-orders-saga")],
    monolith_dsn: Dsn = None,
    monolith_metrics: Annotated[
        str | None, typer.Option(help="the monolith's /metrics (default: the local stack's)")
    ] = None,
    facade_metrics: Annotated[
        str | None, typer.Option(help="the facade's /metrics (default: the local stack's)")
    ] = None,
) -> None:
    """Record the counters now: table writes, requests per monolith view and facade route."""
    config = _config()
    try:
        snapshot = decommission.take_snapshot(
            label,
            monolith_dsn=monolith_dsn or config.db_url("shop"),
            monolith_metrics_url=monolith_metrics or f"{config.monolith_url}/metrics",
            facade_metrics_url=facade_metrics or f"{config.facade_url}/metrics",
        )
    except decommission.DecommissionError as exc:
        err.print(f"[bold red]{exc}[/]")
        raise typer.Exit(2) from None
    path = decommission.save_snapshot(config.state_dir, snapshot)
    for problem in snapshot.problems:
        err.print(f"[yellow]not recorded:[/] {problem}")
    tables = len((snapshot.database or {}).get("tables", {}))
    console.print(
        f"snapshot {label}: {tables} table(s), {len(snapshot.monolith_views or {})} monolith "
        f"view(s), {len(snapshot.facade_routes or {})} facade route(s) -> {path}"
    )
    if snapshot.database is None:
        raise typer.Exit(1)  # without the table counters the snapshot proves too little


@decommission_app.command("report")
def report_command(
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
    monolith_dsn: Dsn = None,
) -> None:
    """What the monolith still serves, which views and tables nothing uses since the cut-over.
    Exit 0 when ready to drop, 1 when something still uses the retired parts."""
    config = _config()
    step_id, retirement = _retirement()
    try:
        snapshots = decommission.load_snapshots(config.state_dir)
        now = decommission.take_snapshot(
            "now",
            monolith_dsn=monolith_dsn or config.db_url("shop"),
            monolith_metrics_url=f"{config.monolith_url}/metrics",
            facade_metrics_url=f"{config.facade_url}/metrics",
        )
    except decommission.DecommissionError as exc:
        err.print(f"[bold red]{exc}[/]")
        raise typer.Exit(2) from None
    report = decommission.build_report(retirement, snapshots, now, retirement_step=step_id)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        render(report, console)
    raise typer.Exit(0 if report.ready else 1)


def render(report: decommission.Report, out: Console) -> None:
    served = Table(title="Still served by the monolith (facade routes it answered)",
                   header_style="bold")  # fmt: skip
    for column in ("facade route", "capability", "since", "answered by the monolith"):
        served.add_column(column)
    for route in report.served_routes:
        shown = route.answered.show()
        served.add_row(route.route, route.capability or "(the monolith's own)", route.since,
                       f"[red]{shown}[/]" if route.capability else shown)  # fmt: skip
    out.print(served)

    views = Table(title="Monolith views that got requests", header_style="bold")
    for column in ("view", "capability", "since", "requests"):
        views.add_column(column)
    for view in report.served_views:
        shown = view.requests.show() if view.requests else "?"
        views.add_row(view.view, view.capability or "(still served)", view.since,
                      f"[red]{shown}[/]" if view.capability else shown)  # fmt: skip
    out.print(views)

    idle = Table(title="Views with no traffic since their cut-over", header_style="bold")
    for column in ("view", "capability", "since", "requests"):
        idle.add_column(column)
    for view in report.idle_views:
        shown = "no snapshot" if view.requests is None else view.requests.show()
        idle.add_row(view.view, view.capability or "(not retired)", view.since, shown)
    out.print(idle)

    tables = Table(title="Legacy tables", header_style="bold")
    for column in ("table", "capability", "since", "writes", "verdict", "detail"):
        tables.add_column(column)
    colour = {"not written": "green", "sync only": "green", "still written": "red",
              "unknown": "yellow"}  # fmt: skip
    for row in report.tables:
        tables.add_row(row.table, row.capability, row.since,
                       row.writes.show() if row.writes else "?",
                       f"[{colour[row.verdict]}]{row.verdict}[/]", row.detail)  # fmt: skip
    out.print(tables)
    for label in report.missing:
        out.print(f"[yellow]no snapshot {label}:[/] take it at that cut-over "
                  f"(strangler decommission snapshot --label {label})")  # fmt: skip
    for note in report.notes:
        out.print(f"[yellow]note:[/] {note}")
    style = "bold green" if report.ready else "bold red"
    out.print(f"[{style}]verdict: {report.verdict}[/]")


Capability = Annotated[
    list[str] | None,
    typer.Option("--capability", help="one capability of the plan's retire: (default: all)"),
]


def read_only_all(dsn: str, retirement: Retirement, names: list[str] | None = None) -> list[str]:
    """Guard every table of the named capabilities (all by default); the tables guarded."""
    guarded: list[str] = []
    for name in names or list(retirement.capabilities):
        capability = retirement.capabilities[name]
        origins = [capability.sync_origin] if capability.sync_origin else []
        tables = [retire.RetiredTable(t.name, tuple(t.writable_columns)) for t in capability.tables]
        guarded += retire.make_read_only(dsn, tables, origins, owner=capability.owner)
    return guarded


def writable_all(dsn: str, retirement: Retirement, names: list[str] | None = None) -> list[str]:
    released: list[str] = []
    for name in names or list(retirement.capabilities):
        released += retire.make_writable(
            dsn, [t.name for t in retirement.capabilities[name].tables]
        )
    return released


@decommission_app.command("read-only")
def read_only_command(capability: Capability = None, monolith_dsn: Dsn = None) -> None:
    """Make the retired capabilities' legacy tables read-only (the reverse sync may write)."""
    _, retirement = _retirement()
    names = _capabilities(retirement, capability)
    dsn = monolith_dsn or _config().db_url("shop")
    try:
        guarded = read_only_all(dsn, retirement, names)
    except (psycopg.Error, ValueError) as exc:
        err.print(f"[bold red]nothing changed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"read-only: {', '.join(guarded)}")


@decommission_app.command("writable")
def writable_command(capability: Capability = None, monolith_dsn: Dsn = None) -> None:
    """Drop the read-only guard of the retired capabilities' tables (the rollback)."""
    _, retirement = _retirement()
    names = _capabilities(retirement, capability)
    dsn = monolith_dsn or _config().db_url("shop")
    try:
        released = writable_all(dsn, retirement, names)
    except psycopg.Error as exc:
        err.print(f"[bold red]failed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"writable again: {', '.join(released) or 'none were read-only'}")


@decommission_app.command("tables")
def tables_command(monolith_dsn: Dsn = None) -> None:
    """The tables of the monolith's database that are read-only, and who may still write."""
    dsn = monolith_dsn or _config().db_url("shop")
    table = Table(title="Read-only legacy tables", header_style="bold")
    for column in ("table", "writes go to", "allowed origins", "writable columns", "since"):
        table.add_column(column)
    for p in retire.status(dsn):
        table.add_row(p.table, p.owner, ", ".join(p.allow_origins) or "-",
                      ", ".join(p.writable_columns) or "-", p.since)  # fmt: skip
    console.print(table)
