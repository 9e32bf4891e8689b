"""``strangler routes ...``: inspect and toggle the facade's routes.

``list`` and ``set`` talk to a running facade (``--facade-url`` / FACADE_URL, token from
FACADE_ADMIN_TOKEN); ``check`` and ``match`` work offline on a routes file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from facade.config import ConfigError, RoutesConfig, load_config
from facade.matching import RouteTable

routes_app = typer.Typer(
    help="Inspect and toggle the strangler facade's routes.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

FacadeURL = Annotated[
    str, typer.Option("--facade-url", envvar="FACADE_URL", help="Base URL of a running facade.")
]


def _client(url: str) -> httpx.Client:
    token = os.environ.get("FACADE_ADMIN_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    user = os.environ.get("USER")
    if user:
        headers["X-Actor"] = user
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=10)


def _call(url: str, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client(url) as client:
            resp = client.request(method, "/_strangler/api" + path, **kwargs)
    except httpx.HTTPError as exc:
        err.print(f"[red]cannot reach the facade at {url}: {exc}[/red]")
        raise typer.Exit(2) from None
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        err.print(f"[red]{resp.status_code}: {detail}[/red]")
        raise typer.Exit(1)
    return resp.json()


def _load(file: Path) -> RoutesConfig:
    try:
        return load_config(file)
    except ConfigError as exc:
        err.print(f"[red]{file}: invalid routes file[/red]")
        for problem in exc.problems:
            err.print(f"  - {problem}")
        raise typer.Exit(1) from None


@routes_app.command("list")
def list_routes(facade_url: FacadeURL = "http://127.0.0.1:8080") -> None:
    """Routes of a running facade, in match order, with mode and who answers."""
    data = _call(facade_url, "GET", "/routes")
    table = Table(title=f"route table v{data['version']}")
    for col in ("id", "path", "methods", "mode", "percent", "upstream", "fallback", "serving"):
        table.add_column(col)
    for r in data["routes"]:
        table.add_row(
            r["id"],
            r["path"],
            ",".join(r["methods"] or ["*"]),
            r["mode"],
            "" if r["percent"] is None else f"{r['percent']:g}%",
            r["upstream"],
            r["fallback"],
            r["serving"],
        )
    console.print(table)


@routes_app.command("set")
def set_route(
    route: Annotated[str, typer.Argument(help="Route id.")],
    mode: Annotated[str, typer.Argument(help="monolith | shadow | canary | extracted")],
    percent: Annotated[
        float | None, typer.Option("--percent", help="Canary share (0-100).")
    ] = None,
    facade_url: FacadeURL = "http://127.0.0.1:8080",
    force: Annotated[
        bool,
        typer.Option("--force", help="Override a failing contract gate (audited, loudly)."),
    ] = False,
) -> None:
    """Switch a route's mode on a running facade (every replica follows via Redis).

    canary and extracted pass the contract gate first (when the facade runs with
    FACADE_CONTRACT_GATE=on): the candidate must be verified green for every pact that
    covers the route. A refusal prints the reasons and exits 1.
    """
    body: dict[str, Any] = {"mode": mode}
    if percent is not None:
        body["percent"] = percent
    if force:
        body["force"] = True
        err.print(
            "[bold red]WARNING: --force overrides the contract gate; the override is recorded "
            "in the facade's audit log.[/bold red]"
        )
    data = _call(facade_url, "PUT", f"/routes/{route}", json=body)
    pct = f" {data['percent']:g}%" if data.get("percent") is not None else ""
    console.print(f"route [bold]{route}[/bold] is now [green]{data['mode']}{pct}[/green]")


@routes_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="Routes YAML file.")]) -> None:
    """Validate a routes file; report overlapping, unreachable and trailing-slash issues."""
    config = _load(file)
    findings = analyse(config)
    for level, message in findings:
        colour = "red" if level == "error" else "yellow"
        console.print(f"[{colour}]{level}[/{colour}]: {message}")
    errors = sum(1 for level, _ in findings if level == "error")
    console.print(
        f"{file}: {len(config.routes)} routes, {len(config.upstreams)} upstreams, "
        f"{errors} error(s), {len(findings) - errors} warning(s)"
    )
    if errors:
        raise typer.Exit(1)


@routes_app.command("match")
def match(
    method: Annotated[str, typer.Argument(help="HTTP method.")],
    path: Annotated[str, typer.Argument(help="Request path, e.g. /api/products/3/")],
    file: Annotated[
        Path, typer.Option("--file", "-f", envvar="FACADE_ROUTES_FILE", help="Routes YAML file.")
    ] = Path("facade/routes.example.yaml"),
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value', repeatable.")
    ] = None,
) -> None:
    """Say which route would take a request, and who would answer it."""
    config = _load(file)
    headers: dict[str, str] = {}
    for item in header or []:
        name, sep, value = item.partition(":")
        if not sep:
            err.print(f"[red]--header {item!r}: expected 'Name: value'[/red]")
            raise typer.Exit(2)
        headers[name.strip().lower()] = value.strip()
    table = RouteTable.build(config)
    route, params = table.match(method.upper(), path.split("?", 1)[0], headers.get)
    cfg = route.config
    who = {
        "monolith": route.fallback,
        "shadow": f"{route.fallback} (copy to {cfg.upstream})",
        "canary": f"{cfg.upstream} for {cfg.percent:g}% of keys, else {route.fallback}"
        if cfg.percent is not None
        else route.fallback,
        "extracted": f"{cfg.upstream} (fallback {route.fallback} for safe methods)",
    }[cfg.mode]
    console.print(f"{method.upper()} {path} -> route [bold]{route.id}[/bold] ({cfg.path})")
    console.print(f"  mode {cfg.mode}: answered by {who}")
    if params:
        console.print(f"  params {params}")


def analyse(config: RoutesConfig) -> list[tuple[str, str]]:
    """Unreachable (fully shadowed) and overlapping routes, trailing-slash mismatches.

    Overlap is decided on sample paths generated from each pattern: a later route whose
    every sample an earlier unconditional route takes is unreachable.
    """
    table = RouteTable.build(config)
    findings: list[tuple[str, str]] = []
    routes = [r for r in table.routes if r is not table.default]
    for i, later in enumerate(routes):
        samples = later.pattern.sample_paths()
        later_methods = later.methods or frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
        for earlier in routes[:i]:
            if earlier.headers or earlier.cookies:
                continue
            methods = later_methods & (earlier.methods or later_methods)
            if not methods:
                continue
            taken = [p for p in samples if earlier.pattern.match(p) is not None]
            if not taken:
                continue
            covers_methods = earlier.methods is None or later_methods <= earlier.methods
            if len(taken) == len(samples) and covers_methods:
                findings.append(
                    (
                        "error",
                        f"route {later.id} ({later.config.path}) is unreachable: "
                        f"route {earlier.id} ({earlier.config.path}) comes first and takes "
                        "every request it would match",
                    )
                )
            else:
                findings.append(
                    (
                        "warning",
                        f"routes {earlier.id} and {later.id} overlap on e.g. {taken[0]} "
                        f"({', '.join(sorted(methods))}): {earlier.id} wins (first match)",
                    )
                )
    for route in routes:
        source = route.config.path
        if source.endswith("/**") or "{" in source:
            continue
        twin = source[:-1] if source.endswith("/") and source != "/" else source + "/"
        other, _ = table.match(next(iter(route.methods or {"GET"})), twin)
        if other.id != route.id:
            findings.append(
                (
                    "warning",
                    f"trailing slash: {source} goes to route {route.id} but {twin} goes to "
                    f"route {other.id}; use '{source.rstrip('/')}/**' or add both",
                )
            )
    return findings
