"""``python -m outbox``: the relay, the schema and the parked-aggregate tools."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table
from shop_telemetry import configure_logging, configure_tracing

from outbox import inbox, schema
from outbox.relay import DEFAULT_BROKER, RelayConfig, run_relay
from outbox.routing import Route, RouteFunction, Router

app = typer.Typer(
    help="Transactional outbox: relay, schema, parked aggregates.", no_args_is_help=True
)
parked_app = typer.Typer(
    help="Parked (dead-lettered) aggregates of a consumer.", no_args_is_help=True
)
app.add_typer(parked_app, name="parked")
console = Console()

Dsn = Annotated[str, typer.Option(envvar="DATABASE_URL", help="PostgreSQL URL")]
Prefix = Annotated[str, typer.Option(help="Table prefix given to the DDL")]


def _load(ref: str) -> Any:
    """``package.module:attribute`` -> the attribute."""
    module, _, attr = ref.partition(":")
    if not attr:
        raise typer.BadParameter(f"expected module:attribute, got {ref!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@app.command()
def relay(
    dsn: Dsn,
    broker: Annotated[
        str, typer.Option(envvar="OUTBOX_BROKER_URL", help="redis://... or amqp://...")
    ] = DEFAULT_BROKER,
    router: Annotated[
        str | None, typer.Option(help="module:callable mapping an envelope to destinations")
    ] = None,
    task: Annotated[str, typer.Option(help="Task name when no --router is given")] = "outbox.event",
    queue: Annotated[str, typer.Option(help="Queue when no --router is given")] = "outbox",
    lanes: Annotated[int, typer.Option(help="Lane queues per aggregate hash (queue.0..N-1)")] = 1,
    table_prefix: Prefix = "",
    channel: Annotated[str, typer.Option(help="NOTIFY channel")] = schema.DEFAULT_CHANNEL,
    batch_size: Annotated[int, typer.Option(min=1)] = 500,
    poll_interval: Annotated[
        float, typer.Option(help="Seconds between polls without NOTIFY")
    ] = 1.0,
    retention_hours: Annotated[float, typer.Option(help="Keep published rows this long")] = 168.0,
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics on this port")] = None,
    log_level: Annotated[str, typer.Option()] = "INFO",
    chaos_kill_after_sends: Annotated[
        int | None, typer.Option(hidden=True, help="Chaos tests: SIGKILL self mid-batch")
    ] = None,
) -> None:
    """Relay outbox rows to Celery until SIGTERM/SIGINT (finishes the current batch)."""
    configure_logging("relay", log_level)
    configure_tracing("relay")
    route_fn: RouteFunction = (
        _load(router) if router else Router(default=Route(task, queue, lanes=lanes))
    )
    config = RelayConfig(
        dsn=dsn,
        broker_url=broker,
        router=route_fn,
        table_prefix=table_prefix,
        channel=channel,
        batch_size=batch_size,
        poll_interval=poll_interval,
        retention=timedelta(hours=retention_hours),
        metrics_port=metrics_port,
        kill_after_sends=chaos_kill_after_sends,
    )
    run_relay(config)


@app.command("ddl")
def ddl_command(
    table_prefix: Prefix = "",
    channel: Annotated[str, typer.Option()] = schema.DEFAULT_CHANNEL,
    side: Annotated[str, typer.Option(help="both, outbox or inbox")] = "both",
    apply: Annotated[bool, typer.Option(help="Run it against --dsn instead of printing")] = False,
    dsn: Annotated[str | None, typer.Option(envvar="DATABASE_URL")] = None,
) -> None:
    """Print (or apply) the schema."""
    text = {
        "both": schema.ddl(table_prefix, channel),
        "outbox": schema.outbox_ddl(table_prefix, channel),
        "inbox": schema.inbox_ddl(table_prefix),
    }[side]
    if not apply:
        typer.echo(text)
        return
    if not dsn:
        raise typer.BadParameter("--apply needs --dsn or DATABASE_URL")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(text.encode())
    console.print(f"applied the {side} schema")


@parked_app.command("list")
def parked_list(
    dsn: Dsn,
    consumer: Annotated[str | None, typer.Option(help="Only this consumer")] = None,
    table_prefix: Prefix = "",
) -> None:
    """Parked aggregates, their waiting events and the error that parked them."""
    with psycopg.connect(dsn) as conn:
        rows = inbox.parked_aggregates(conn.cursor(), consumer, table_prefix=table_prefix)
    if not rows:
        console.print("no parked aggregates")
        return
    table = Table(
        "consumer", "aggregate", "events", "from version", "attempts", "parked at", "error"
    )
    for p in rows:
        table.add_row(
            p.consumer,
            f"{p.aggregate_type}:{p.aggregate_id}",
            str(p.events),
            str(p.first_version),
            str(p.attempts),
            p.parked_at.isoformat(timespec="seconds"),
            p.error[:120],
        )
    console.print(table)


@parked_app.command("release")
def parked_release(
    consumer: Annotated[
        str, typer.Option(help="module:attribute of the Consumer (or of its Celery task)")
    ],
    aggregate_type: Annotated[str, typer.Argument()],
    aggregate_id: Annotated[str, typer.Argument()],
) -> None:
    """Re-apply a parked aggregate's events in order with the consumer's own handler."""
    obj = _load(consumer)
    target: inbox.Consumer = getattr(obj, "consumer", obj)
    if not isinstance(target, inbox.Consumer):
        raise typer.BadParameter(f"{consumer} is neither a Consumer nor a consumer task")
    result = target.release(aggregate_type, aggregate_id)
    console.print(
        f"{aggregate_type}:{aggregate_id}: applied {result.applied}, "
        f"skipped {result.skipped} (duplicate or stale), still parked {result.remaining}"
    )
    if result.error:
        console.print(f"[red]stopped: {result.error}[/red]")
        raise typer.Exit(1)


def main() -> None:
    app()
