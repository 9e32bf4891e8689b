"""``strangler ownership status|switch catalog|orders``: who writes the catalog (step 4),
who takes checkouts (step 5)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from strangler import orders_ownership, ownership
from strangler.config import ConfigError, load_config

ownership_app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)


class Context(StrEnum):
    catalog = "catalog"
    orders = "orders"


class Owner(StrEnum):
    service = "service"
    monolith = "monolith"


MonolithDsn = Annotated[
    str | None, typer.Option(help="the monolith's database (default: the local stack's)")
]
ServiceDsn = Annotated[
    str | None, typer.Option(help="the catalog service's database (default: the local stack's)")
]


def databases(
    monolith_dsn: str | None, service_dsn: str | None, *, service_db: str = "catalog"
) -> ownership.Databases:
    if monolith_dsn and service_dsn:
        return ownership.Databases(monolith_dsn, service_dsn)
    try:
        config = load_config()
    except ConfigError as exc:
        err.print(f"[bold red]configuration error:[/] {exc}; pass --monolith-dsn/--service-dsn")
        raise typer.Exit(2) from None
    return ownership.Databases(
        monolith_dsn or config.db_url("shop"), service_dsn or config.db_url(service_db)
    )


def orders_databases(
    monolith_dsn: str | None, orders_dsn: str | None = None
) -> ownership.Databases:
    """The monolith's and the orders service's databases."""
    return databases(monolith_dsn, orders_dsn, service_db="orders")


@ownership_app.command("status")
def status_command(
    context: Context, monolith_dsn: MonolithDsn = None, service_dsn: ServiceDsn = None
) -> None:
    """Which side accepts the context's writes, and the sync lag each way."""
    if context is Context.orders:
        dbs = orders_databases(monolith_dsn, service_dsn)
        lag = ownership.lag(dbs, "service", consumer=orders_ownership.CONSUMER)
        console.print(f"orders service -> monolith: {lag.describe()}")
        console.print(f"checkout owner: {orders_ownership.owner(dbs)}")
        return
    dbs = databases(monolith_dsn, service_dsn)
    state = ownership.status(dbs)
    for side in ownership.SIDES:
        lag = ownership.lag(dbs, side)
        writes = "frozen" if state.frozen[side] else "open"
        console.print(f"{side}: writes {writes}; towards the {ownership.other(side)}: "
                      f"{lag.describe()}")  # fmt: skip
    console.print(f"owner: {state.owner or 'none (both frozen or both open)'}")


@ownership_app.command("switch")
def switch_command(
    context: Context,
    to: Annotated[Owner, typer.Option("--to", help="the side that owns writes afterwards")],
    timeout: Annotated[float, typer.Option(help="seconds to wait for the drain")] = 60.0,
    monolith_dsn: MonolithDsn = None,
    service_dsn: ServiceDsn = None,
) -> None:
    """Freeze the old owner, drain its outbox until the other side applied it, open the new."""
    target: ownership.Side = "service" if to is Owner.service else "monolith"
    console.print(f"switching {context} writes to the {target} (both frozen while draining)")
    try:
        if context is Context.orders:
            final = orders_ownership.switch(
                orders_databases(monolith_dsn, service_dsn), target, timeout=timeout
            )
        else:
            final = ownership.switch(databases(monolith_dsn, service_dsn), target, timeout=timeout)
    except ownership.SwitchFailed as exc:
        err.print(f"[bold red]switch failed, flags left as they were:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"drained ({final.describe()}); {context} writes now go to the {target}")
