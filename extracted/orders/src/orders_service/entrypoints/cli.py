"""``orders-service`` / ``python -m orders_service``: migrate, serve, saga-worker,
projections rebuild, backfill, openapi."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

app = typer.Typer(help="The extracted orders service.", no_args_is_help=True)
projections = typer.Typer(help="The read model (order_summaries).", no_args_is_help=True)
app.add_typer(projections, name="projections")
console = Console()
OPENAPI_PATH = Path(__file__).resolve().parents[3] / "openapi.json"
DatabaseUrl = Annotated[str | None, typer.Option(help="default: ORDERS_DATABASE_URL")]


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Apply the Alembic migrations to the service database."""
    from orders_service.adapters.migrate import upgrade
    from orders_service.settings import get_settings

    upgrade(database_url or get_settings().database_url)
    console.print("[green]orders database is at head[/green]")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8002, workers: int = 1) -> None:
    """Run the HTTP API with uvicorn."""
    import uvicorn
    from shop_telemetry import logging_config

    from orders_service.settings import get_settings

    uvicorn.run("orders_service.bootstrap:asgi", factory=True, host=host, port=port,
                workers=workers, access_log=False,
                log_config=logging_config("orders", get_settings().log_level))  # fmt: skip


@app.command("saga-worker")
def saga_worker_command(
    database_url: DatabaseUrl = None,
    once: Annotated[bool, typer.Option(help="recover what is claimable now, then exit")] = False,
) -> None:
    """Recover checkout sagas whose driver died (lease expired) and drive them to the end."""
    import logging
    import signal
    import threading

    from orders_service.bootstrap import engine_for, saga_worker
    from orders_service.settings import get_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s %(message)s")
    engine = engine_for(database_url or settings.database_url)
    worker = saga_worker(settings, engine)
    if settings.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, registry=worker.registry)
    try:
        if once:
            count = 0
            while worker.run_once() is not None:
                count += 1
            console.print(f"recovered {count} saga(s)")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        console.print(f"{worker.name}: watching for abandoned sagas")
        worker.run(stop)
    finally:
        engine.dispose()


@projections.command("rebuild")
def projections_rebuild(database_url: DatabaseUrl = None) -> None:
    """Replay every order stream into a fresh order_summaries and swap it in."""
    from orders_service.bootstrap import engine_for
    from orders_service.service_layer.projections import rebuild
    from orders_service.settings import get_settings

    engine = engine_for(database_url or get_settings().database_url)
    try:
        report = rebuild(engine)
    finally:
        engine.dispose()
    console.print(f"replayed {report.streams} streams ({report.events} events), "
                  f"{report.visible} visible orders in {report.seconds:.2f}s")  # fmt: skip


@app.command()
def backfill(
    legacy_dsn: Annotated[str, typer.Option(help="the monolith's DATABASE_URL (read only)")],
    database_url: DatabaseUrl = None,
    batch_size: int = 500,
    restart: Annotated[bool, typer.Option(help="ignore an unfinished checkpoint")] = False,
) -> None:
    """Import the monolith's orders as OrderImported streams; resumable and idempotent."""
    from orders_service.bootstrap import engine_for
    from orders_service.service_layer.backfill import LegacySource, run_backfill
    from orders_service.settings import get_settings

    engine = engine_for(database_url or get_settings().database_url)
    source = LegacySource(legacy_dsn)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("orders", total=None)
            report = run_backfill(
                engine, source, batch_size=batch_size, restart=restart,
                on_total=lambda n: progress.update(task, total=n),
                on_progress=lambda n: progress.advance(task, n),
            )  # fmt: skip
    finally:
        source.close()
        engine.dispose()
    if report.resumed_from:
        console.print(f"resumed after legacy id {report.resumed_from}")
    console.print(f"imported: {report.imported}, already there: {report.skipped}, "
                  f"untranslatable: {report.failed} (see dead_letters)")  # fmt: skip
    console.print(f"backfill rows/s: {report.rows_per_second:.0f} ({report.seconds:.2f}s)")


def openapi_document() -> str:
    from orders_service.bootstrap import http_app
    from orders_service.settings import Settings

    schema = http_app(Settings()).openapi()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@app.command()
def openapi(check: Annotated[bool, typer.Option(help="fail if the file is stale")] = False) -> None:
    """Write extracted/orders/openapi.json from the code (or --check for drift)."""
    document = openapi_document()
    if check:
        if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != document:
            console.print("[red]openapi.json is stale: run `orders-service openapi`[/red]")
            raise typer.Exit(1)
        console.print("openapi.json is up to date")
        return
    OPENAPI_PATH.write_text(document)
    console.print(f"wrote {OPENAPI_PATH}")
