"""``strangler compare``: real HTTP sides on loopback, the CLI as a user runs it."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from facade.app import create_app
from facade.config import CompareConfig
from facade.metrics import Metrics
from facade.parity import ParitySink, make_store
from facade.settings import FacadeSettings
from rich.console import Console
from strangler.cli import app
from strangler.compare_tool import cli as compare_cli
from strangler.compare_tool.generate import from_openapi
from strangler.compare_tool.replay import ReplayReport, RuleBook, replay, rules_from_config
from strangler.compare_tool.traffic import TrafficRequest, read_traffic
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
Handler = Callable[[], tuple[int, Any]]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ServerThread:
    """A uvicorn server on 127.0.0.1:<free port> in a thread of its own."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="error", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def start(self) -> ServerThread:
        self.thread.start()
        wait_for(lambda: self.server.started, 10, "server start")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class JsonSide:
    """A small ASGI side: path -> handler giving (status, JSON document)."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.hits: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        self.hits.append(path)
        handler = self.routes.get(path)
        status, doc = handler() if handler else (404, {"detail": "not found"})
        body = json.dumps(doc).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def side() -> Iterator[Callable[[dict[str, Handler]], tuple[JsonSide, str]]]:
    servers: list[ServerThread] = []

    def start(routes: dict[str, Handler]) -> tuple[JsonSide, str]:
        app = JsonSide(routes)
        server = ServerThread(app).start()
        servers.append(server)
        return app, server.url

    yield start
    for server in servers:
        server.stop()


def fixed(doc: Any, status: int = 200) -> Handler:
    return lambda: (status, doc)


def ticking(doc: dict[str, Any], start: int) -> Handler:
    """``doc`` with an ``at`` that changes on every call, like a generation timestamp."""
    counter = itertools.count(start)
    return lambda: (200, {**doc, "at": f"2026-01-01T00:00:{next(counter):02d}Z"})


PRIMARY = {
    "/api/products/1/": fixed({"id": 1, "name": "Cup", "price": "12.50"}),
    "/api/products/2/": fixed({"id": 2, "name": "Mug", "price": "9.00"}),
    "/api/categories/": fixed({"results": [{"slug": "cups"}], "generated_at": "t1"}),
    "/api/notes/": fixed({"note": "<script>alert(1)</script>"}),
}
CANDIDATE = {
    "/api/products/1/": fixed({"id": 1, "name": "Cup", "price": 12.5}),
    "/api/products/2/": fixed({"id": 2, "name": "Mug", "price": "9.50"}),
    "/api/categories/": fixed({"results": [{"slug": "cups"}], "generated_at": "t2"}),
    "/api/notes/": fixed({"note": "<script>alert(2)</script>"}),
}
ROUTES = {
    "upstreams": {
        "monolith": {"instances": ["http://127.0.0.1:8000"]},
        "catalog": {"instances": ["http://127.0.0.1:8001"]},
    },
    "routes": [
        {
            "id": "catalog-products",
            "path": "/api/products/**",
            "upstream": "catalog",
            "mode": "shadow",
            "compare": {"normalisers": ["decimal"]},
        },
        {
            "id": "catalog-categories",
            "path": "/api/categories/**",
            "upstream": "catalog",
            "mode": "shadow",
            "compare": {"ignore": ["$.generated_at"]},
        },
        {"id": "default", "path": "/**", "upstream": "monolith"},
    ],
}


def write_traffic(path: Path, targets: list[str], route: str | None = None) -> Path:
    lines = []
    for target in targets:
        item: dict[str, Any] = {
            "method": "GET",
            "path": target,
            "headers": {"accept": "application/json"},
            "body": None,
            "at": "2026-01-01T00:00:00Z",
        }
        if route:
            item["route"] = route
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(ROUTES))
    return path


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    # A wide console: route names and fields must not be cut in the table under test.
    monkeypatch.setattr(compare_cli, "out", Console(width=200))
    runner = CliRunner()

    def invoke(*args: str | Path) -> Any:
        return runner.invoke(app, ["compare", *map(str, args)])

    return invoke


def run_replay(
    targets: list[str], primary: str, candidate: str, routes: Path | None, noise: int = 0
) -> ReplayReport:
    from facade.config import load_config

    requests = [TrafficRequest("GET", t, {"accept": "application/json"}) for t in targets]
    book = RuleBook(load_config(routes) if routes else None)
    return asyncio.run(replay(requests, primary, candidate, book, sample_noise=noise))


def test_matched_and_mismatched_are_counted_per_route(
    tmp_path: Path, side: Any, routes_file: Path, cli: Callable[..., Any]
) -> None:
    _, primary = side(PRIMARY)
    _, candidate = side(CANDIDATE)
    traffic = write_traffic(
        tmp_path / "t.jsonl",
        ["/api/products/1/", "/api/products/2/", "/api/products/1/", "/api/categories/"],
    )
    result = cli(
        "run", traffic, "--primary", primary, "--candidate", candidate, "--routes", routes_file
    )
    assert result.exit_code == 1, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    products = [c.strip() for c in rows["catalog-products"].split("│")[1:-1]]
    assert products[:6] == ["catalog-products", "3", "2", "1", "0", "66.7%"]
    assert "$.price (1)" in products[6]
    categories = [c.strip() for c in rows["catalog-categories"].split("│")[1:-1]]
    assert categories[:6] == ["catalog-categories", "1", "1", "0", "0", "100.0%"]
    assert "4 requests: 3 matched, 1 mismatched, 0 errors" in result.stdout


def test_everything_matched_exits_zero(
    tmp_path: Path, side: Any, routes_file: Path, cli: Callable[..., Any]
) -> None:
    _, primary = side(PRIMARY)
    _, candidate = side(CANDIDATE)
    traffic = write_traffic(tmp_path / "t.jsonl", ["/api/products/1/", "/api/categories/"])
    result = cli(
        "run", traffic, "--primary", primary, "--candidate", candidate, "--routes", routes_file
    )
    assert result.exit_code == 0, result.output


def test_an_ignored_path_does_not_count(side: Any, routes_file: Path) -> None:
    _, primary = side(PRIMARY)
    _, candidate = side(CANDIDATE)
    targets = ["/api/categories/", "/api/products/1/"]
    plain = run_replay(targets, primary, candidate, None)
    assert [d.path for o in plain.mismatches for d in o.comparison.diffs] == [  # type: ignore[union-attr]
        "$.generated_at",
        "$.price",
    ]
    ruled = run_replay(targets, primary, candidate, routes_file)
    assert ruled.all_matched
    assert ruled.routes["catalog-categories"].matched == 1
    assert ruled.routes["catalog-products"].matched == 1


def test_the_rules_are_those_the_facade_builds() -> None:
    config = CompareConfig.model_validate(
        {
            "headers": ["Content-Type", "etag"],
            "ignore": ["$..updated_at"],
            "tolerance": {"absolute": 0.01, "paths": ["$.price"]},
            "unordered": ["$.tags", {"path": "$.results", "key": "id"}],
            "normalisers": ["decimal", {"name": "casefold", "paths": ["$..email"]}],
            "pii": ["email"],
        }
    )
    store = make_store(None, "t", recent=1, top_fields=1, window_seconds=60)
    assert rules_from_config(config) == ParitySink(store, Metrics()).rules_for(config)


def test_noise_is_learned_from_a_primary_that_changes_per_call(
    tmp_path: Path, side: Any, cli: Callable[..., Any]
) -> None:
    doc = {"id": 5, "name": "Cup"}
    _, primary = side({"/api/stamp/": ticking(doc, 0)})
    _, candidate = side({"/api/stamp/": ticking(doc, 30)})
    targets = ["/api/stamp/"] * 3
    without = run_replay(targets, primary, candidate, None)
    assert len(without.mismatches) == 3
    learned = run_replay(targets, primary, candidate, None, noise=1)
    assert learned.all_matched
    assert learned.noise == {"(unrouted)": frozenset({"$.at"})}

    traffic = write_traffic(tmp_path / "t.jsonl", targets, route="stamps")
    result = cli(
        "run", traffic, "--primary", primary, "--candidate", candidate, "--sample-noise", "2"
    )
    assert result.exit_code == 0, result.output
    assert "noise learned for stamps: $.at" in result.stdout


def test_the_html_report_escapes_values(tmp_path: Path, side: Any, cli: Callable[..., Any]) -> None:
    _, primary = side(PRIMARY)
    _, candidate = side(CANDIDATE)
    traffic = write_traffic(tmp_path / "t.jsonl", ["/api/notes/", "/api/products/1/"])
    report = tmp_path / "out" / "report.html"
    result = cli("run", traffic, "--primary", primary, "--candidate", candidate, "--html", report)
    assert result.exit_code == 1, result.output
    page = report.read_text()
    assert page.startswith("<!doctype html>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<script" not in page
    assert "$.note" in page
    assert "$.price" in page  # no routes file: the default rules compare "12.50" to 12.5
    assert "http://" not in page.split("<style>")[1].split("</style>")[0]  # self-contained


def test_exported_tests_reproduce_the_mismatch(
    tmp_path: Path, side: Any, routes_file: Path, cli: Callable[..., Any]
) -> None:
    _, primary = side(PRIMARY)
    _, candidate = side(CANDIDATE)
    traffic = write_traffic(
        tmp_path / "t.jsonl", ["/api/products/1/", "/api/products/2/", "/api/categories/"]
    )
    exported = tmp_path / "exported"
    result = cli(
        "run",
        traffic,
        *("--primary", primary, "--candidate", candidate, "--routes", routes_file),
        *("--export-tests", exported),
    )
    assert result.exit_code == 1, result.output
    [test_file] = sorted(exported.glob("test_*.py"))
    assert test_file.name == "test_mismatch_001_catalog_products.py"

    def pytest_run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider"],
            cwd=exported,
            env={**os.environ, "PYTHONWARNINGS": "error", **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    failing = pytest_run()
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "$.price (changed): primary='9.00' candidate='9.50'" in failing.stdout
    # The same file passes once the candidate agrees (here: the primary against itself).
    passing = pytest_run(COMPARE_CANDIDATE_URL=primary)
    assert passing.returncode == 0, passing.stdout + passing.stderr


def test_bad_input_exits_2_with_a_readable_message(
    tmp_path: Path, side: Any, cli: Callable[..., Any]
) -> None:
    _, primary = side(PRIMARY)
    _, candidate = side(CANDIDATE)
    sides = ("--primary", primary, "--candidate", candidate)
    bad = write_traffic(tmp_path / "bad.jsonl", ["/api/products/1/", "/api/products/2/"])
    bad.write_text(bad.read_text() + '{"method": "GET", "path": \n')
    result = cli("run", bad, *sides)
    assert result.exit_code == 2
    assert "line 3: not valid JSON" in result.stderr
    assert "Traceback" not in result.output

    result = cli("run", tmp_path / "missing.jsonl", *sides)
    assert result.exit_code == 2
    assert "no such traffic file" in result.stderr

    no_path = tmp_path / "no-path.jsonl"
    no_path.write_text('{"method": "GET", "path": "api"}\n')
    result = cli("run", no_path, *sides)
    assert result.exit_code == 2
    assert "line 1: 'path' must be a string starting with '/'" in result.stderr

    good = write_traffic(tmp_path / "good.jsonl", ["/api/products/1/"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = cli("run", good, "--primary", primary, "--candidate", dead)
    assert result.exit_code == 2
    assert f"candidate {dead} is unreachable" in result.stderr

    routes = tmp_path / "routes.yaml"
    routes.write_text("routes: [\n")
    result = cli("run", good, *sides, "--routes", routes)
    assert result.exit_code == 2
    assert "invalid YAML" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_generation_from_the_committed_pacts(tmp_path: Path, cli: Callable[..., Any]) -> None:
    out = tmp_path / "pacts.jsonl"
    result = cli("generate", "--from-pacts", REPO / "contracts" / "pacts", "-o", out)
    assert result.exit_code == 0, result.output
    everything = read_traffic(out)
    # The orders pacts come along too (their reads, the checkout, the participant calls).
    assert {("GET", "/api/orders/"), ("POST", "/api/checkout/")} <= {
        (r.method, r.path) for r in everything
    }
    requests = [r for r in everything if "/products" in r.path or "/categories" in r.path]
    reads = [r for r in requests if r.method == "GET"]
    assert {(r.method, r.path) for r in reads} == {
        ("GET", "/api/products/sku/NOPE-0000/"),
        ("GET", "/api/categories/"),
        ("GET", "/api/products/42/"),
        ("GET", "/api/categories/kitchen/"),
        ("GET", "/api/products/sku/SKU-0042/"),
        ("GET", "/api/products/?category=cups"),
    }
    # The staff pact's writes come along, each with the states it needs.
    assert {r.path.split("/")[2] for r in requests if r.method != "GET"} == {"products"}
    assert all(r.states for r in requests if r.method != "GET")
    assert all(r.headers == {"accept": "application/json"} for r in reads)
    assert ("a product exists",) in {r.states for r in requests}
    assert "'a request for product 42' needs provider state(s) 'a product exists'" in (
        result.stderr
    )

    skipped = tmp_path / "stateless.jsonl"
    result = cli(
        "generate", "--from-pacts", REPO / "contracts" / "pacts", "--skip-stateful", "-o", skipped
    )
    assert result.exit_code == 0, result.output
    assert skipped.read_text() == ""
    assert "(skipped)" in result.stderr


def test_generation_from_openapi_with_ids_and_sampled_values(
    tmp_path: Path, side: Any, cli: Callable[..., Any]
) -> None:
    _, monolith = side(
        {
            "/api/products/": fixed({"count": 2, "results": [{"id": 7, "sku": "SKU 7"}]}),
            "/api/categories/": fixed([{"slug": "cups"}, {"slug": "mugs"}]),
        }
    )
    openapi = REPO / "extracted" / "catalog" / "openapi.json"
    sampled = from_openapi(
        openapi, sample_from=monolith, exclude=("/healthz", "/readyz", "/metrics", "/v2/*")
    )
    assert [r.path for r in sampled.requests] == [
        "/api/categories/",
        "/api/categories/cups/",
        "/api/categories/mugs/",
        "/api/products/",
        "/api/products/sku/SKU%207/",
        "/api/products/7/",
    ]
    assert sampled.notes == []

    out = tmp_path / "api.jsonl"
    result = cli("generate", "--from-openapi", openapi, "--ids", "1,2", "-o", out)
    assert result.exit_code == 0, result.output
    paths = [r.path for r in read_traffic(out)]
    assert "/api/products/1/" in paths
    assert "/api/products/2/" in paths
    assert "/v2/products?limit=20" in paths  # a default value
    assert not any(p.startswith(("/healthz", "/metrics")) for p in paths)
    assert "GET /api/products/sku/{sku}/ skipped: no value for sku" in result.stderr


def test_traffic_recorded_by_the_facade_replays(
    tmp_path: Path, side: Any, cli: Callable[..., Any]
) -> None:
    _, primary = side(PRIMARY)
    _, candidate = side(CANDIDATE)
    routes = {
        **ROUTES,
        "upstreams": {"monolith": {"instances": [primary]}, "catalog": {"instances": [candidate]}},
    }
    routes_path = tmp_path / "routes.yaml"
    routes_path.write_text(yaml.safe_dump(routes))
    recorded = tmp_path / "recorded.jsonl"
    settings = FacadeSettings(
        routes_file=routes_path,
        redis_url=None,
        access_log=False,
        record_file=recorded,
        record_sample=1.0,
        audit_log_file=tmp_path / "audit.jsonl",
    )
    facade = ServerThread(create_app(settings)).start()
    try:
        with httpx.Client(base_url=facade.url, timeout=10) as client:
            for target in ("/api/products/1/", "/api/products/2/?token=x", "/api/categories/"):
                assert client.get(target, headers={"cookie": "sessionid=s"}).status_code == 200
        wait_for(
            lambda: recorded.exists() and len(recorded.read_text().splitlines()) == 3,
            10,
            "3 recorded requests",
        )
    finally:
        facade.stop()
    result = cli(
        "run", recorded, "--primary", primary, "--candidate", candidate, "--routes", routes_path
    )
    assert result.exit_code == 1, result.output
    assert "3 requests: 2 matched, 1 mismatched, 0 errors" in result.stdout
