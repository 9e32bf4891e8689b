"""``strangler contracts ...``: run the contracts, show the matrix, ask the gate.

* ``verify``: consumer pact tests (regenerate ``contracts/pacts``), then every provider
  verification (pytest, real servers, real PostgreSQL), then the matrix. Exit 1 if any
  verification is not green.
* ``matrix``: consumer x provider implementation x result, from the ledger. Each pact
  appears once per implementation of its provider (``contracts.paths.IMPLEMENTATIONS``):
  a provider only one side implements has one row; a provider with none is a red row.
* ``can-i-cutover ROUTE``: exit 0 only if every pact covering the route's endpoints is
  verified green against the route's candidate for the current pact content.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from facade.config import ConfigError, RoutesConfig, load_config
from facade.gate import content_hash, evaluate, ledger_key, read_ledger, read_pacts
from rich.console import Console
from rich.table import Table

from contracts.paths import IMPLEMENTATIONS, PACTS_DIR, REPO_ROOT, ledger_path

contracts_app = typer.Typer(
    help="Consumer-driven contracts: verify, matrix, can-i-cutover.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

LedgerOpt = Annotated[
    Path | None,
    typer.Option("--ledger", envvar="CONTRACTS_LEDGER", help="Verification ledger (JSON)."),
]
PactsOpt = Annotated[Path, typer.Option("--pacts", help="Folder of pact files.")]
DEFAULT_ROUTES = REPO_ROOT / "migrations-plan" / "step-1-facade" / "routes.yaml"


def _ledger(path: Path | None) -> Path:
    return path or ledger_path()


def matrix_rows(pacts_dir: Path, ledger: Path) -> list[dict[str, str]]:
    data = read_ledger(ledger)
    rows = []
    for pact in read_pacts(pacts_dir):
        implementations = IMPLEMENTATIONS.get(pact.provider)
        if not implementations:
            # A pact nobody is asked to verify must not vanish from the matrix (or pass it).
            rows.append(
                {
                    "consumer": pact.consumer,
                    "provider": pact.provider,
                    "implementation": "-",
                    "pact": pact.name,
                    "interactions": "",
                    "result": "no implementation",
                    "verified_at": "",
                    "detail": "provider missing from contracts.paths.IMPLEMENTATIONS",
                    "hash": pact.content_hash[:12],
                }
            )
            continue
        for implementation in implementations:
            entry = data["entries"].get(ledger_key(implementation, pact.name))
            if entry is None:
                result, when, detail = "never verified", "", ""
            elif entry.get("content_hash") != pact.content_hash:
                result, when = "stale", entry.get("verified_at", "")
                detail = "pact changed since"
            else:
                result, when = entry.get("result", "?"), entry.get("verified_at", "")
                detail = "; ".join(entry.get("failures", [])[:2])
            rows.append(
                {
                    "consumer": pact.consumer,
                    "provider": pact.provider,
                    "implementation": implementation,
                    "pact": pact.name,
                    "interactions": str(entry.get("interactions", "")) if entry else "",
                    "result": result,
                    "verified_at": when,
                    "detail": detail,
                    "hash": pact.content_hash[:12],
                }
            )
    return rows


def print_matrix(pacts_dir: Path, ledger: Path) -> bool:
    rows = matrix_rows(pacts_dir, ledger)
    table = Table(title=f"contract verification matrix ({ledger})")
    for col in ("consumer", "provider", "implementation", "interactions", "result",
                "verified_at", "pact hash", "detail"):  # fmt: skip
        table.add_column(col)
    for row in rows:
        colour = "green" if row["result"] == "passed" else "red"
        table.add_row(
            row["consumer"], row["provider"], row["implementation"], row["interactions"],
            f"[{colour}]{row['result']}[/{colour}]", row["verified_at"], row["hash"],
            row["detail"],
        )  # fmt: skip
    console.print(table)
    return bool(rows) and all(r["result"] == "passed" for r in rows)


@contracts_app.command("matrix")
def matrix(ledger: LedgerOpt = None, pacts: PactsOpt = PACTS_DIR) -> None:
    """Consumer x provider implementation x result, from the ledger; exit 1 unless all green."""
    if not print_matrix(pacts, _ledger(ledger)):
        raise typer.Exit(1)


@contracts_app.command("verify")
def verify(
    ledger: LedgerOpt = None,
    skip_consumers: Annotated[
        bool, typer.Option("--skip-consumers", help="Verify the committed pacts as they are.")
    ] = False,
) -> None:
    """Regenerate the pacts (consumer tests), verify every provider, print the matrix."""
    env = {**os.environ, "CONTRACTS_LEDGER": str(_ledger(ledger))}
    phases = [] if skip_consumers else [("consumer pact tests", "contracts/tests/consumer")]
    phases.append(("provider verification", "contracts/tests/provider"))
    failed = False
    for title, path in phases:
        console.rule(title)
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
            cwd=REPO_ROOT,
            env=env,
        )
        if code != 0:
            failed = True
            if path.endswith("consumer"):
                err.print("[red]consumer tests failed: the pacts were not regenerated[/red]")
                break
    green = print_matrix(PACTS_DIR, _ledger(ledger))
    if failed or not green:
        raise typer.Exit(1)


def _routes(file: Path | None) -> RoutesConfig:
    path = file or Path(os.environ.get("FACADE_ROUTES_FILE") or DEFAULT_ROUTES)
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]{path}: invalid routes file: {'; '.join(exc.problems)}[/red]")
        raise typer.Exit(2) from None


@contracts_app.command("can-i-cutover")
def can_i_cutover(
    route: Annotated[str, typer.Argument(help="Route id, e.g. catalog-products.")],
    routes_file: Annotated[
        Path | None, typer.Option("--routes-file", "-f", help="Routes YAML (FACADE_ROUTES_FILE).")
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option("--candidate", help="Implementation (default: the route's upstream)."),
    ] = None,
    ledger: LedgerOpt = None,
    pacts: PactsOpt = PACTS_DIR,
) -> None:
    """Exit 0 only if every pact covering ROUTE is verified green against its candidate."""
    config = _routes(routes_file)
    try:
        decision = evaluate(
            config, route, read_pacts(pacts), read_ledger(_ledger(ledger)), candidate=candidate
        )
    except KeyError:
        err.print(f"[red]no route {route!r} in the routes file[/red]")
        raise typer.Exit(2) from None
    for name, verdict in decision.checked.items():
        colour = "green" if verdict == "green" else "red"
        console.print(f"  [{colour}]{name}: {verdict}[/{colour}]")
    if decision.allowed:
        console.print(f"[bold green]yes[/bold green]: {decision.summary()}")
        return
    console.print(f"[bold red]no[/bold red]: {decision.summary()}")
    raise typer.Exit(1)


__all__ = ["content_hash", "contracts_app"]
