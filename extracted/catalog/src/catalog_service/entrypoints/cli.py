"""``catalog-service`` / ``python -m catalog_service``: migrate, serve, backfill, openapi."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from acl.catalog.quirks import AttrsPolicy
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

app = typer.Typer(help="The extracted catalog service.", no_args_is_help=True)
console = Console()
OPENAPI_PATH = Path(__file__).resolve().parents[3] / "openapi.json"


@app.command()
def migrate(
    database_url: Annotated[str | None, typer.Option(help="default: CATALOG_DATABASE_URL")] = None,
) -> None:
    """Apply the Alembic migrations to the service database."""
    from catalog_service.adapters.migrate import upgrade
    from catalog_service.settings import get_settings

    upgrade(database_url or get_settings().database_url)
    console.print("[green]catalog database is at head[/green]")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8001, workers: int = 1) -> None:
    """Run the HTTP API with uvicorn."""
    import uvicorn
    from shop_telemetry import logging_config

    from catalog_service.settings import get_settings

    uvicorn.run("catalog_service.bootstrap:asgi", factory=True, host=host, port=port,
                workers=workers, access_log=False,
                log_config=logging_config("catalog", get_settings().log_level))  # fmt: skip


@app.command()
def backfill(
    source_url: Annotated[str, typer.Option(help="the monolith's DATABASE_URL (read only)")],
    database_url: Annotated[str | None, typer.Option(help="default: CATALOG_DATABASE_URL")] = None,
    batch_size: int = 2000,
    source_position: Annotated[
        str | None, typer.Option(help="outbox position (default: read at the snapshot)")
    ] = None,
    version_sql: Annotated[
        str | None,
        typer.Option(
            help="SQL expression over the legacy row giving its version (default: the "
            "monolith's outbox version counter, read in the backfill's snapshot; 0 without one)"
        ),
    ] = None,
    restart: Annotated[bool, typer.Option(help="ignore an unfinished checkpoint")] = False,
    attrs_policy: AttrsPolicy = AttrsPolicy.LEGACY,
) -> None:
    """Copy the monolith's catalog through the ACL; resumable and idempotent."""
    from catalog_service.bootstrap import engine_for
    from catalog_service.service_layer.backfill import LegacySource, run_backfill
    from catalog_service.settings import get_settings

    engine = engine_for(database_url or get_settings().database_url)
    source = LegacySource(source_url, version_sql=version_sql)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("products", total=None)
            report = run_backfill(
                engine, source, batch_size=batch_size, source_position=source_position,
                restart=restart, attrs_policy=attrs_policy,
                on_total=lambda n: progress.update(task, total=n),
                on_progress=lambda n, _w: progress.advance(task, n),
            )  # fmt: skip
    finally:
        source.close()
        engine.dispose()
    if report.resumed_from:
        console.print(f"resumed after legacy id {report.resumed_from}")
    console.print(
        f"categories: {report.categories}, products: {report.products}, "
        f"untranslatable: {report.failed} (see dead_letters)"
    )
    if report.source_position:
        console.print(f"outbox position at the snapshot: {report.source_position}")
    console.print(f"backfill rows/s: {report.rows_per_second:.0f} ({report.seconds:.2f}s)")


@app.command()
def reconcile(
    source_url: Annotated[str, typer.Option(help="the monolith's DATABASE_URL (read only)")],
    database_url: Annotated[str | None, typer.Option(help="default: CATALOG_DATABASE_URL")] = None,
    repair: Annotated[
        bool, typer.Option(help="re-emit events for the drifted aggregates (monolith outbox)")
    ] = False,
    reemit_command: Annotated[
        str,
        typer.Option(
            envvar="CATALOG_REEMIT_COMMAND",
            help="the monolith's re-emit command; the drifted ids are appended",
        ),
    ] = "python monolith/manage.py catalog_reemit",
    attrs_policy: AttrsPolicy = AttrsPolicy.LEGACY,
    watch: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="keep running: compare every N seconds and repair drift that persists "
            "across two rounds (in-flight changes are not drift)",
        ),
    ] = None,
    heartbeat: Annotated[
        Path | None, typer.Option(help="with --watch: touch this file after every round")
    ] = None,
) -> None:
    """Compare monolith and service per aggregate; exit 0 without drift, 1 with drift."""
    from catalog_service.bootstrap import engine_for
    from catalog_service.service_layer.reconcile import reconcile as run
    from catalog_service.settings import get_settings

    engine = engine_for(database_url or get_settings().database_url)
    try:
        if watch is not None:
            _watch(engine, source_url, watch, reemit_command, attrs_policy, heartbeat)
        report = run(engine, source_url, attrs_policy=attrs_policy)
    finally:
        engine.dispose()
    _print_report(report)
    if report.drift:
        if repair:
            _reemit(reemit_command, report, source_url)
        raise typer.Exit(1)


def _watch(
    engine: Any,
    source_url: str,
    every: float,
    reemit_command: str,
    attrs_policy: AttrsPolicy,
    heartbeat: Path | None,
) -> None:
    """Anti-entropy: a safety net under the event path, not a replacement for it.

    A change in flight shows as drift for a moment; the same drift (same aggregate, same
    monolith checksum) seen again a round later is not in flight: a delivery was lost
    (e.g. by a broker that dropped a message when its consumer was killed). Only that is
    re-emitted, through the monolith's outbox like every other change.
    """
    import signal
    import threading

    from catalog_service.service_layer.reconcile import ReconcileReport
    from catalog_service.service_layer.reconcile import reconcile as run

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    seen: set[tuple[str, int, str, str]] = set()
    while not stop.is_set():
        report = run(engine, source_url, attrs_policy=attrs_policy)
        keys = {(d.aggregate_type, d.aggregate_id, d.kind, d.monolith): d for d in report.drift}
        lasting = [d for k, d in keys.items() if k in seen]
        total = sum(report.compared.values())
        console.print(f"reconcile: {total} aggregates, {len(keys)} drifting, "
                      f"{len(lasting)} lasting", highlight=False)  # fmt: skip
        if lasting and _monolith_frozen(source_url):
            # The service owns catalog writes (step 4): the monolith's copy is the stale
            # one, so re-emitting it would overwrite newer writes. Reported, not repaired.
            note = "not repaired: the service owns catalog writes (the reverse sync must catch up)"
            console.print(f"reconcile: {len(lasting)} lasting, {note}", highlight=False)
        elif lasting:
            _reemit(
                reemit_command,
                ReconcileReport(compared=report.compared, drift=lasting),
                source_url,
            )
        if heartbeat is not None:
            heartbeat.touch()  # what a health check reads: the loop is alive and not stuck
        seen = set(keys) - {(d.aggregate_type, d.aggregate_id, d.kind, d.monolith) for d in lasting}
        stop.wait(every)
    raise typer.Exit(0)


def _monolith_frozen(source_url: str) -> bool:
    """Whether the monolith's catalog writes are frozen (ownership moved to the service)."""
    import psycopg

    from catalog_service.settings import psycopg_url

    try:
        with psycopg.connect(psycopg_url(source_url)) as conn:
            row = conn.execute("SELECT frozen FROM catalog_write_freeze").fetchone()
    except psycopg.errors.UndefinedTable:
        return False  # a monolith from before step 4 owns its catalog
    return bool(row and row[0])


def _reemit(reemit_command: str, report: Any, source_url: str) -> None:
    import os
    import shlex
    import subprocess

    from catalog_service.service_layer.reconcile import reemit_arguments

    command = [*shlex.split(reemit_command), *reemit_arguments(report)]
    console.print(f"re-emitting: {shlex.join(command)}")
    # The monolith re-emits into the database that was compared, whatever else is set.
    env = {**os.environ, "DATABASE_URL": source_url}
    result = subprocess.run(command, check=False, env=env)
    if result.returncode != 0:
        console.print(f"[red]re-emit failed with exit code {result.returncode}[/red]")


def _print_report(report: Any) -> None:
    from rich.table import Table

    compared = ", ".join(f"{n} {kind}" for kind, n in report.compared.items())
    console.print(f"compared {compared}")
    for kind, legacy_id, error in report.untranslatable:
        console.print(f"[yellow]untranslatable {kind} {legacy_id}: {error}[/yellow]")
    if not report.drift:
        console.print("[green]no drift[/green]")
        return
    table = Table("aggregate", "id", "drift", "fields", "monolith", "service", title="drift")
    for d in report.drift[:200]:
        table.add_row(d.aggregate_type, str(d.aggregate_id), d.kind, ", ".join(d.fields),
                      d.monolith, d.service)  # fmt: skip
    console.print(table)
    console.print(f"[red]{len(report.drift)} drifted aggregate(s)[/red]")


def openapi_document() -> str:
    from catalog_service.bootstrap import http_app
    from catalog_service.settings import Settings

    schema = http_app(Settings()).openapi()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@app.command()
def openapi(check: Annotated[bool, typer.Option(help="fail if the file is stale")] = False) -> None:
    """Write extracted/catalog/openapi.json from the code (or --check for drift)."""
    document = openapi_document()
    if check:
        if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != document:
            console.print("[red]openapi.json is stale: run `catalog-service openapi`[/red]")
            raise typer.Exit(1)
        console.print("openapi.json is up to date")
        return
    OPENAPI_PATH.write_text(document)
    console.print(f"wrote {OPENAPI_PATH}")
