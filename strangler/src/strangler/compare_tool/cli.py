"""``strangler compare generate | run``: offline comparison of the monolith and a service."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from facade.config import ConfigError, RoutesConfig, load_config
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from strangler.compare_tool.export import export_tests
from strangler.compare_tool.generate import (
    DEFAULT_EXCLUDE,
    Generated,
    GenerateError,
    from_openapi,
    from_pacts,
)
from strangler.compare_tool.replay import ReplayReport, RuleBook, SideError, check_side, replay
from strangler.compare_tool.report import render_html, route_table
from strangler.compare_tool.traffic import TrafficError, dump_lines, read_traffic

compare_app = typer.Typer(
    help="Replay traffic against the monolith and a service and compare the answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)


def _bad_input(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _values(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


@compare_app.command()
def generate(
    from_pacts_dir: Annotated[
        Path | None,
        typer.Option("--from-pacts", help="Pact file or folder: every HTTP interaction."),
    ] = None,
    from_openapi_file: Annotated[
        Path | None,
        typer.Option("--from-openapi", help="OpenAPI document: its GET operations."),
    ] = None,
    stateful: Annotated[
        bool,
        typer.Option(
            "--include-stateful/--skip-stateful",
            help="Keep pact interactions that assume a provider state (listed either way).",
        ),
    ] = True,
    ids: Annotated[
        str, typer.Option("--ids", help="Values for id-like path parameters: 1,2,3.")
    ] = "",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=V1,V2: values of one parameter (repeatable)."),
    ] = None,
    sample_from: Annotated[
        str | None,
        typer.Option(
            "--sample-from",
            help="A running side (the monolith) whose list endpoints give path parameters.",
        ),
    ] = None,
    sample_size: Annotated[int, typer.Option(min=1, help="Values sampled per parameter.")] = 3,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="Path templates to leave out (glob, repeatable), besides health and metrics.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Traffic file (default: stdout).")
    ] = None,
) -> None:
    """Write a traffic file from the pacts or from an OpenAPI document."""
    if from_pacts_dir is None and from_openapi_file is None:
        raise _bad_input("give --from-pacts DIR and/or --from-openapi FILE")
    params: dict[str, list[str]] = {}
    for item in param or ():
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not _values(values):
            raise _bad_input(f"--param {item!r}: expected NAME=VALUE[,VALUE...]")
        params[name.strip()] = _values(values)
    generated = Generated()
    try:
        if from_pacts_dir is not None:
            pacts = from_pacts(from_pacts_dir, with_states=stateful)
            generated.requests += pacts.requests
            generated.notes += pacts.notes
        if from_openapi_file is not None:
            api = from_openapi(
                from_openapi_file,
                ids=_values(ids),
                params=params,
                sample_from=sample_from,
                sample_size=sample_size,
                exclude=(*DEFAULT_EXCLUDE, *(exclude or ())),
            )
            generated.requests += api.requests
            generated.notes += api.notes
    except GenerateError as exc:
        raise _bad_input(str(exc)) from None
    for note in generated.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    text = "".join(line + "\n" for line in dump_lines(generated.requests))
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _bad_input(f"{output}: cannot write ({exc.strerror or exc})") from None
    err.print(f"{len(generated.requests)} requests written to {output or 'stdout'}")


@compare_app.command()
def run(
    traffic: Annotated[Path, typer.Argument(help="Traffic file (JSON lines).")],
    primary: Annotated[str, typer.Option(help="The side that is right: the monolith.")],
    candidate: Annotated[str, typer.Option(help="The side under test: the service.")],
    routes: Annotated[
        Path | None,
        typer.Option(
            help="Facade routes file: match each request to its route and use its compare "
            "rules (without it: the recorded route ids and the default rules)."
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 8,
    html: Annotated[Path | None, typer.Option("--html", help="Write an HTML report.")] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export-tests", help="Write one pytest file per mismatch into DIR."),
    ] = None,
    sample_noise: Annotated[
        int,
        typer.Option(
            min=0,
            help="Per route, ask the primary twice for its first N safe requests: noisy fields.",
        ),
    ] = 0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request.")] = 30.0,
) -> None:
    """Replay TRAFFIC against both sides and compare; exit 0 when all matched, else 1."""
    try:
        requests = read_traffic(traffic)
        config: RoutesConfig | None = load_config(routes) if routes is not None else None
        primary_url = check_side("primary", primary)
        candidate_url = check_side("candidate", candidate)
    except (TrafficError, SideError) as exc:
        raise _bad_input(str(exc)) from None
    except ConfigError as exc:
        raise _bad_input(f"routes file {routes}: {exc}") from None

    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("replay", total=None)
        report = asyncio.run(
            replay(
                requests,
                primary_url,
                candidate_url,
                RuleBook(config),
                concurrency=concurrency,
                timeout=timeout,
                sample_noise=sample_noise,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        )
    _finish(report, html, export)


def _finish(report: ReplayReport, html: Path | None, export: Path | None) -> None:
    out.print(route_table(report))
    for route, fields in sorted(report.noise.items()):
        out.print(f"noise learned for {route}: {', '.join(sorted(fields))}", highlight=False)
    for outcome in report.errors[:10]:
        out.print(
            f"[yellow]error[/] {outcome.request.method} {outcome.request.path_only}: "
            f"{outcome.error}",
            highlight=False,
        )
    try:
        if html is not None:
            html.parent.mkdir(parents=True, exist_ok=True)
            html.write_text(render_html(report), encoding="utf-8")
            out.print(f"HTML report: {html}")
        if export is not None and report.mismatches:
            written = export_tests(report, export)
            out.print(f"{len(written)} tests reproducing the mismatches in {export}")
    except OSError as exc:
        raise _bad_input(f"cannot write the results ({exc})") from None
    matched = sum(s.matched for s in report.routes.values())
    out.print(
        f"{report.total} requests: {matched} matched, {len(report.mismatches)} mismatched, "
        f"{len(report.errors)} errors"
    )
    raise typer.Exit(0 if report.all_matched else 1)
