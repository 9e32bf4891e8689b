import os
import socket
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from strangler.config import StackConfig, load_config
from strangler.stack import observability, sync_components


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp_path: Path, prometheus_port: int) -> StackConfig:
    return load_config(
        {"STRANGLER_STATE_DIR": str(tmp_path / "state"), "PROMETHEUS_PORT": str(prometheus_port)}
    )


@pytest.fixture
def fake_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    binary = tmp_path / "bin" / "prometheus"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return binary


def test_without_prometheus_the_runner_says_what_it_skips_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no prometheus here
    console = Console(record=True, width=300)
    assert observability(_config(tmp_path, _free_port()), console=console) == []
    said = console.export_text()
    assert "Prometheus, Jaeger and Grafana are not started locally" in said
    assert "docker compose up --build" in said


def test_a_prometheus_on_path_scrapes_every_local_component(
    tmp_path: Path, fake_prometheus: Path
) -> None:
    port = _free_port()
    config = _config(tmp_path, port)
    [part] = observability(config, console=Console(quiet=True))
    assert part.command[0] == str(fake_prometheus)
    assert f"--web.listen-address=127.0.0.1:{port}" in part.command
    assert part.ready_url == f"http://127.0.0.1:{port}/-/ready"
    assert part.public_urls == {"prometheus": f"http://127.0.0.1:{port}/graph"}
    written = yaml.safe_load((config.state_dir / "prometheus" / "prometheus.yml").read_text())
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in written["scrape_configs"]
    }
    assert jobs == {
        "facade": [f"127.0.0.1:{config.facade_port}"],
        "monolith": [f"127.0.0.1:{config.monolith_port}"],
        "catalog": [f"127.0.0.1:{config.catalog_port}"],
        "relay": [f"127.0.0.1:{config.relay_metrics_port}"],
        "sync": [f"127.0.0.1:{config.sync_metrics_port}"],
        "orders": [f"127.0.0.1:{config.orders_port}"],
    }


def test_a_taken_prometheus_port_skips_prometheus_instead_of_failing_the_stack(
    tmp_path: Path, fake_prometheus: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        console = Console(record=True, width=300)
        parts = observability(_config(tmp_path, busy.getsockname()[1]), console=console)
    assert parts == []
    assert "PROMETHEUS_PORT" in console.export_text()


def test_the_relay_serves_metrics_where_the_runner_waits_and_scrapes(tmp_path: Path) -> None:
    config = _config(tmp_path, _free_port())
    relay = next(c for c in sync_components(config) if c.name == "relay")
    port = str(config.relay_metrics_port)
    assert relay.command[relay.command.index("--metrics-port") + 1] == port
    assert relay.ready_url == f"http://127.0.0.1:{port}/metrics"
