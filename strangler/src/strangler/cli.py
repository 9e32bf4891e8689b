"""``strangler``: one command for the local stack and the migration tooling."""

from __future__ import annotations

import contextlib
import os
import shutil
from enum import StrEnum
from typing import Annotated

import httpx
import psycopg
import typer
from rich.console import Console
from rich.table import Table

from strangler.config import ConfigError, StackConfig, load_config
from strangler.decommission_cli import decommission_app
from strangler.embedded import EmbeddedServerError
from strangler.ownership_cli import ownership_app
from strangler.stack import (
    bring_up,
    has_module,
    prepare_catalog,
    prepare_monolith,
    prepare_orders,
    probes,
    sync_check,
)
from strangler.supervisor import StackError, Supervisor

app = typer.Typer(
    help="Run the shop's local stack and drive its strangler-fig migration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

try:  # the facade brings its own route commands
    from facade.cli import routes_app

    app.add_typer(routes_app, name="routes", help="Inspect, check and change facade routes.")
except ImportError:  # pragma: no cover - the facade is part of the workspace
    pass

try:  # the contract tooling: verify, matrix, can-i-cutover
    from contracts.cli import contracts_app

    app.add_typer(contracts_app, name="contracts", help="Pact verification and the cut-over gate.")
except ImportError:  # pragma: no cover - contracts is part of the workspace
    pass

try:  # the walkthrough: strangler step status | apply N (needs the facade and contracts)
    from strangler.step_cli import step_app

    app.add_typer(step_app, name="step", help="Which migration step runs; apply another.")
except ImportError:  # pragma: no cover - both are part of the workspace
    pass

try:  # offline comparison: strangler compare generate | run (needs the facade)
    from strangler.compare_tool.cli import compare_app

    app.add_typer(compare_app, name="compare", help="Replay traffic against both sides.")
except ImportError:  # pragma: no cover - the facade is part of the workspace
    pass


# write ownership of step 4: strangler ownership status|switch catalog
app.add_typer(ownership_app, name="ownership", help="Who writes the catalog; switch it.")

# step 6: strangler decommission snapshot|report|read-only|writable|tables
app.add_typer(
    decommission_app, name="decommission", help="What the monolith still serves; retire tables."
)


@app.callback()
def _main() -> None:
    # The route commands talk to the local facade with the token the runner generated.
    if not os.environ.get("FACADE_ADMIN_TOKEN"):
        with contextlib.suppress(ConfigError, OSError):
            os.environ["FACADE_ADMIN_TOKEN"] = load_config().admin_token


Products = Annotated[int, typer.Option("--products", help="Products to seed into an empty shop.")]


def _config() -> StackConfig:
    try:
        return load_config()
    except ConfigError as exc:
        console.print(f"[bold red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None


def _print_urls(config: StackConfig, supervisor_components: list[object]) -> None:
    table = Table(title="The stack is up", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("where")
    for component in supervisor_components:
        for label, url in getattr(component, "public_urls", {}).items():
            table.add_row(label, url)
    table.add_row("database", config.db_url("shop"))
    table.add_row("redis", config.cache_url())
    table.add_row("facade admin token", f"{config.state_dir / 'admin-token'} (FACADE_ADMIN_TOKEN)")
    console.print(table)
    console.print(
        "Log in as [bold]admin[/] / [bold]demo-pass-123[/] (local demo only). Ctrl-C stops."
    )


@app.command()
def up(
    products: Products = 2000,
    walk: Annotated[
        bool, typer.Option(help="Walk the migration steps first (what `make demo` does).")
    ] = False,
) -> None:
    """Start PostgreSQL, Redis, the monolith and the facade; Ctrl-C stops them all."""
    config = _config()
    # While the walk tells its story the components' logs stay in their tail buffers.
    supervisor = Supervisor(console, quiet=walk)
    try:
        apps = bring_up(supervisor, config, products=products, console=console)
        if walk:
            from strangler.walkthrough import Walk, summary

            summary(console, Walk(config, console, supervisor).run())
            supervisor.quiet = False
    except (StackError, EmbeddedServerError) as exc:
        supervisor.stop_all()
        console.print(f"[bold red]the stack did not come up:[/] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        supervisor.stop_all()
        raise typer.Exit(130) from None
    _print_urls(config, list(apps))
    raise typer.Exit(supervisor.wait())


class Part(StrEnum):
    monolith = "monolith"
    catalog = "catalog"
    orders = "orders"


@app.command()
def prepare(part: Annotated[Part, typer.Argument()], products: Products = 2000) -> None:
    """Migrate one part's database and fill it when empty (seed the shop, backfill the
    catalog; the orders service imports its orders at step 5): what `up` does before
    starting the applications, as one-shot jobs for docker compose. Needs DATABASE_URL
    (and REDIS_URL) pointing at real servers."""
    config = _config()
    try:
        if part is Part.monolith:
            prepare_monolith(config, products=products, console=console)
        elif part is Part.catalog:
            prepare_catalog(config, console=console)
        else:
            prepare_orders(config, console=console)
    except (StackError, psycopg.Error) as exc:
        console.print(f"[bold red]prepare {part.value} failed:[/] {exc}")
        raise typer.Exit(1) from None


@app.command("demo-check")
def demo_check(
    products: Products = 500,
    walk: Annotated[
        bool, typer.Option(help="Also walk the migration steps (step 1 to step 6).")
    ] = True,
) -> None:
    """Bring the stack up, probe every component, walk the steps, stop; exit 0 or 1."""
    config = _config()
    supervisor = Supervisor(console, quiet=True)
    failures = 0
    try:
        bring_up(supervisor, config, products=products, console=console)
        table = Table(title="demo check", header_style="bold")
        table.add_column("probe")
        table.add_column("url")
        table.add_column("result")
        with httpx.Client(timeout=10.0) as client:
            for probe in probes(config):
                try:
                    response = client.get(probe.url)
                    ok = response.status_code == probe.status and probe.expect in response.text
                    result = f"{response.status_code}" + ("" if ok else " (unexpected)")
                except httpx.HTTPError as exc:
                    ok, result = False, type(exc).__name__
                failures += not ok
                table.add_row(
                    probe.name, probe.url, f"[green]{result}[/]" if ok else f"[red]{result}[/]"
                )
        if has_module("catalog_service"):
            try:
                synced = sync_check(config)
                table.add_row(
                    "sync monolith -> catalog",
                    f"price of product {synced.product_id} -> {synced.price}",
                    f"[green]visible after {synced.latency_ms:.0f} ms[/]",
                )
            except (StackError, httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                failures += 1
                table.add_row("sync monolith -> catalog", "", f"[red]{exc}[/]")
        console.print(table)
        if walk and not failures:
            from strangler.walkthrough import Walk, summary

            failures += summary(console, Walk(config, console, supervisor).run())
    except (StackError, EmbeddedServerError) as exc:
        console.print(f"[bold red]the stack did not come up:[/] {exc}")
        failures += 1
    finally:
        supervisor.stop_all()
    if failures:
        console.print(f"[bold red]demo check failed: {failures} problem(s)[/]")
        raise typer.Exit(1)
    console.print("[bold green]demo check passed[/]")


@app.command()
def reset(yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Delete the local state folder (embedded database and Redis data, tokens)."""
    config = _config()
    if not config.state_dir.exists():
        console.print(f"nothing to delete at {config.state_dir}")
        return
    if not yes and not typer.confirm(f"Delete {config.state_dir}?"):
        raise typer.Exit(1)
    shutil.rmtree(config.state_dir)
    console.print(f"deleted {config.state_dir}")


if __name__ == "__main__":  # pragma: no cover
    app()
