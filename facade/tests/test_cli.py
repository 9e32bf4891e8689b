from pathlib import Path

import httpx
import pytest
import yaml
from facade.cli import routes_app
from rich.console import Console
from typer.testing import CliRunner

from facade import cli

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch) -> None:
    monkeypatch.setattr(cli, "console", Console(width=200))
    monkeypatch.setattr(cli, "err", Console(width=200, stderr=True))


EXAMPLE = Path(__file__).resolve().parents[1] / "routes.example.yaml"


def test_check_example_is_clean() -> None:
    result = runner.invoke(routes_app, ["check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.output


def test_check_reports_unreachable_overlap_and_trailing_slash(tmp_path: Path) -> None:
    doc = {
        "upstreams": {
            "monolith": {"instances": "http://m:1"},
            "catalog": {"instances": "http://c:1"},
        },
        "routes": [
            {"id": "all", "path": "/api/products/**", "upstream": "catalog"},
            {"id": "one", "path": "/api/products/{id:int}/", "upstream": "catalog"},
            {
                "id": "writes",
                "path": "/api/orders/{rest:path}",
                "methods": ["POST"],
                "upstream": "catalog",
            },
            {"id": "order", "path": "/api/orders/{id}", "upstream": "catalog"},
            {"id": "cart", "path": "/cart", "upstream": "catalog"},
            {"id": "default", "path": "/**", "upstream": "monolith"},
        ],
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(routes_app, ["check", str(path)])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "route one (/api/products/{id:int}/) is unreachable" in out
    assert "routes writes and order overlap" in out
    assert "trailing slash: /cart goes to route cart but /cart/ goes to route default" in out


def test_check_invalid_file_lists_problems_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("upstreams: {}\nroutes: []\n")
    result = runner.invoke(routes_app, ["check", str(path)])
    assert result.exit_code == 1
    assert "mandatory" in result.output
    assert "Traceback" not in result.output


def test_match_explains_the_route() -> None:
    result = runner.invoke(routes_app, ["match", "get", "/api/products/3/", "--file", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "route catalog-products" in result.output
    assert "answered by monolith" in result.output
    result = runner.invoke(routes_app, ["match", "POST", "/cart/add/", "-f", str(EXAMPLE)])
    assert "route default" in result.output


def test_list_and_set_against_a_running_facade(
    monolith, catalog, facade_factory, routes_doc, monkeypatch
) -> None:
    f = facade_factory(routes_doc(monolith[1].url, catalog[1].url))
    monkeypatch.setenv("FACADE_ADMIN_TOKEN", "test-admin-token")
    monkeypatch.setenv("FACADE_URL", f.url)
    result = runner.invoke(routes_app, ["set", "products", "canary", "--percent", "10"])
    assert result.exit_code == 0, result.output
    assert "canary 10%" in result.output
    result = runner.invoke(routes_app, ["list"])
    assert result.exit_code == 0, result.output
    assert "products" in result.output
    assert "10%" in result.output
    assert runner.invoke(routes_app, ["set", "products", "monolith"]).exit_code == 0
    result = runner.invoke(routes_app, ["set", "products", "canary"])
    assert result.exit_code == 1
    assert "percent" in result.output
    monkeypatch.setenv("FACADE_ADMIN_TOKEN", "wrong")
    result = runner.invoke(routes_app, ["list"])
    assert result.exit_code == 1
    assert "403" in result.output
    assert httpx.get(f.url + "/healthz").status_code == 200
