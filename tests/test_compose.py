"""docker-compose.yml, its image and its configuration files, held to the code without Docker.

``test_compose_stack_is_consistent`` runs every check of ``composecheck`` on the files as
committed; the mutation tests break one thing in a copy and expect the matching check to
name it, so no check passes by never looking.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import composecheck as cc
import pytest
import strangler.config
import yaml
from strangler.config import REPO_ROOT, StackConfig, load_config


@pytest.fixture(scope="module")
def runner_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    """The runner's defaults: neither the environment nor a developer's .env count."""
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(strangler.config, "REPO_ROOT", state)  # where load_config looks for .env
        config = load_config({"STRANGLER_STATE_DIR": str(state)})
    return config


@pytest.fixture(scope="module")
def deployment(runner_config: StackConfig) -> cc.Deployment:
    return cc.load(REPO_ROOT, runner_config)


def test_compose_file_parses() -> None:
    document = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert isinstance(document["services"], dict)
    assert {"postgres", "redis", "facade", "prometheus", "jaeger", "grafana"} <= set(
        document["services"]
    )


@pytest.mark.parametrize("check", cc.CHECKS, ids=lambda c: c.__name__)
def test_compose_stack_is_consistent(
    deployment: cc.Deployment, check: Callable[..., list[str]]
) -> None:
    assert check(deployment) == []


def test_the_runner_components_all_have_a_service(deployment: cc.Deployment) -> None:
    # The runner's view is what the checks compare against: it must not be empty.
    assert {"monolith", "catalog", "relay", "sync", "facade"} <= set(deployment.runner)
    assert set(deployment.scrape_targets) == {
        "facade",
        "catalog",
        "relay",
        "monolith",
        "sync",
        "orders",
    }
    assert deployment.dashboards, "the Grafana dashboards were not found through the mounts"


def test_compose_interpolation_uses_the_shipped_defaults() -> None:
    assert (
        cc.interpolate("postgresql://u:${PW:-secret}@db/${DB:-shop}")
        == "postgresql://u:secret@db/shop"
    )
    assert cc.interpolate("${UNSET}") == ""
    assert cc.interpolate("a $$(hostname)") == "a $(hostname)"


def test_promql_metric_names_leave_out_functions_labels_and_keywords() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(facade_request_duration_seconds_bucket"
        '{job="facade", mode=~"shadow|canary"}[$__rate_interval]))) / on (route) group_left '
        "sum without (status) (facade_requests_total offset 5m)"
    )
    assert cc.promql_metric_names(expr) == {
        "facade_request_duration_seconds_bucket",
        "facade_requests_total",
    }
    assert cc.promql_jobs(expr) == {"facade"}


def test_environment_names_come_from_the_code() -> None:
    assert {"FACADE_ROUTES_FILE", "REDIS_URL", "FACADE_HOST", "FACADE_CONTRACT_GATE"} <= (
        cc.facade_facts(None).env
    )
    assert {
        "CATALOG_DATABASE_URL",
        "CATALOG_BROKER_URL",
        "CATALOG_REEMIT_COMMAND",
    } <= cc.catalog_env()
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "BEHIND_FACADE", "PORT", "WEB_CONCURRENCY"} <= (
        cc.monolith_facts().env
    )
    assert {"DATABASE_URL", "OUTBOX_BROKER_URL"} <= cc.outbox_env()


# -- every check can fail ---------------------------------------------------------------------

Mutation = Callable[[cc.Deployment, Path], None]
DROP = object()


def put(path: str, value: Any) -> Mutation:
    """Set (or with DROP, remove) one value: ``compose/services/facade/ports`` (the first
    segment is a Deployment attribute; numbers index lists)."""

    def mutate(d: cc.Deployment, _tmp: Path) -> None:
        head, *keys = path.split("/")
        node: Any = getattr(d, head)
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
        if value is DROP:
            node.pop(last)
        else:
            node[last] = value

    return mutate


def arg(service: str, flag: str, value: str) -> Mutation:
    """Give ``flag`` another value in a service's command."""

    def mutate(d: cc.Deployment, _tmp: Path) -> None:
        command = d.services[service]["command"]
        command[command.index(flag) + 1] = value

    return mutate


def dockerfile(old: str, new: str) -> Mutation:
    """Build every image service from a copy of the Dockerfile with one edit."""

    def mutate(d: cc.Deployment, tmp: Path) -> None:
        text = (REPO_ROOT / "docker" / "Dockerfile").read_text()
        assert old in text
        (tmp / "Dockerfile").write_text(text.replace(old, new))
        for service in d.image_services().values():
            service["build"] = {"context": ".", "dockerfile": str(tmp / "Dockerfile")}

    return mutate


S = "compose/services"
FIRST_QUERY = "dashboards/migration.json/panels/1/targets/0"
MUTATIONS: list[tuple[Callable[[cc.Deployment], list[str]], str, Mutation, str]] = [
    (cc.check_commands, "relay queue", arg("relay", "--queue", "catalog.x"), "relay: command"),
    (cc.check_commands, "sync queue", arg("sync", "-Q", "catalog.events.0"), "sync: command"),
    (cc.check_commands, "catalog module", put(f"{S}/catalog/command/2", "facade"), "catalog:"),
    (cc.check_commands, "loopback bind", arg("catalog", "--host", "127.0.0.1"), "must be 0.0.0.0"),
    (cc.check_commands, "working dir", put(f"{S}/monolith/working_dir", "/app"), "working_dir"),
    (cc.check_commands, "no sync service", put(f"{S}/sync", DROP), "sync: the runner starts it"),
    (cc.check_commands, "gate off",
     put(f"{S}/facade/environment/FACADE_CONTRACT_GATE", "off"), "FACADE_CONTRACT_GATE"),
    (cc.check_commands, "another routes file",
     put(f"{S}/facade/environment/FACADE_ROUTES_FILE",
         "/app/migrations-plan/step-2-catalog-shadow/routes.yaml"), "FACADE_ROUTES_FILE"),
    (cc.check_commands, "worker without its broker",
     put(f"{S}/sync/environment/CATALOG_BROKER_URL", DROP), "CATALOG_BROKER_URL"),
    (cc.check_jobs, "unknown part",
     put(f"{S}/catalog-migrate/command", ["strangler", "prepare", "payments"]), "does not parse"),
    (cc.check_jobs, "job restarts", put(f"{S}/monolith-migrate/restart", "on-failure"), "one-shot"),
    (cc.check_jobs, "not prepare", put(f"{S}/monolith-migrate/command", ["strangler", "reset"]),
     "is not `strangler prepare`"),
    (cc.check_modules, "missing module", put(f"{S}/catalog/command/2", "catalog_svc"),
     "does not exist"),
    (cc.check_modules, "missing Celery app", arg("sync", "-A", "catalog_service.consumer"),
     "Celery app"),
    (cc.check_modules, "missing script", put(f"{S}/catalog-migrate/command/0", "strangle"),
     "no console script"),
    (cc.check_modules, "package not in the image", dockerfile("--package catalog-service ", ""),
     "does not install"),
    (cc.check_ports, "published port", put(f"{S}/facade/ports", ["8080:8081"]),
     "publishes container port 8081"),
    (cc.check_ports, "upstream port",
     put(f"{S}/facade/environment/MONOLITH_URL", "http://monolith:8001"),
     "uses port 8001 for monolith"),
    (cc.check_ports, "healthcheck port",
     put(f"{S}/catalog/healthcheck/test/3", "urlopen('http://127.0.0.1:8000/readyz')"),
     "uses port 8000 for catalog"),
    (cc.check_environment, "typo in a setting",
     put(f"{S}/sync/environment/CATALOG_SYNC_LANE", "2"), "sets CATALOG_SYNC_LANE"),
    (cc.check_environment, "another part's setting",
     put(f"{S}/facade/environment/SECRET_KEY", "x"), "sets SECRET_KEY"),
    (cc.check_environment, "relay given the monolith's",
     put(f"{S}/relay/environment/SHOP_ENV", "local"), "sets SHOP_ENV"),
    (cc.check_files, "missing Dockerfile",
     put(f"{S}/facade/build", {"context": ".", "dockerfile": "docker/Nope"}), "does not exist"),
    (cc.check_files, "missing mount",
     put(f"{S}/postgres/volumes/1", "./deploy/postgres/no.sql:/docker-entrypoint-initdb.d/1.sql"),
     "mounts ./deploy/postgres/no.sql"),
    (cc.check_files, "missing routes file",
     put(f"{S}/facade/environment/FACADE_ROUTES_FILE", "/app/migrations-plan/x/routes.yaml"),
     "does not exist"),
    (cc.check_files, "home dashboard not mounted",
     put(f"{S}/grafana/environment/GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "/x/nope.json"),
     "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"),
    (cc.check_dockerfile, "runs as root", dockerfile("USER app", ""), "runs as root"),
    (cc.check_dockerfile, "not frozen", dockerfile("--frozen", ""), "uv sync --frozen"),
    (cc.check_dockerfile, "member pyproject not copied",
     dockerfile("COPY outbox/pyproject.toml outbox/\n", ""), "does not copy outbox/pyproject.toml"),
    (cc.check_dockerfile, "another base", dockerfile("python:3.11-slim", "python:3.12"),
     "python:3.11-slim"),
    (cc.check_dependencies, "no healthcheck", put(f"{S}/redis/healthcheck", DROP),
     "redis: a long-running service without"),
    (cc.check_dependencies, "health never reported", put(f"{S}/redis/healthcheck", DROP),
     "waits for redis to be healthy"),
    (cc.check_dependencies, "unknown dependency",
     put(f"{S}/facade/depends_on/postgress", {"condition": "service_healthy"}),
     "postgress, which is no service"),
    (cc.check_dependencies, "missing dependency",
     put(f"{S}/monolith-migrate/depends_on/redis", DROP), "monolith-migrate: talks to redis"),
    (cc.check_dependencies, "no condition", put(f"{S}/facade/depends_on", ["monolith", "redis"]),
     "without conditions"),
    (cc.check_dependencies, "waits for a server to complete",
     put(f"{S}/facade/depends_on/redis", {"condition": "service_completed_successfully"}),
     "it is long-running"),
    (cc.check_databases, "no shop database", put(f"{S}/postgres/environment/POSTGRES_DB", DROP),
     "creates databases"),
    (cc.check_databases, "unknown database",
     put(f"{S}/catalog/environment/CATALOG_DATABASE_URL", "postgresql://p@postgres:5432/catalogue"),
     "catalogue, which nothing creates"),
    (cc.check_prometheus, "wrong metrics port",
     put("prometheus/scrape_configs/2/static_configs/0/targets", ["relay:9102"]),
     "scrapes port 9102"),
    (cc.check_prometheus, "component not scraped", put("prometheus/scrape_configs/1", DROP),
     "differ from the components"),
    (cc.check_prometheus, "unknown service",
     put("prometheus/scrape_configs/1/static_configs/0/targets", ["cataloge:8001"]),
     "cataloge is no service"),
    (cc.check_dashboards, "undefined metric",
     put(f"{FIRST_QUERY}/expr", "sum(rate(facade_shadow_mismatch_total[5m]))"),
     "facade_shadow_mismatch_total, which no component defines"),
    (cc.check_dashboards, "unscraped job",
     put(f"{FIRST_QUERY}/expr", 'sum(rate(http_requests_total{job="storefront"}[5m]))'),
     "job storefront"),
    (cc.check_dashboards, "unknown datasource", put(f"{FIRST_QUERY}/datasource", {"uid": "prom"}),
     "datasource prom"),
    (cc.check_documented, "undocumented variable",
     lambda d, _tmp: d.variables.add("SHOP_COLOUR"), "${SHOP_COLOUR} is not documented"),
    (cc.check_dashboards, "no Migration dashboard", put("dashboards/migration.json", DROP),
     "titled Migration"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("check", "mutate", "expected"),
    [pytest.param(check, mutate, expected, id=f"{check.__name__}: {label}")
     for check, label, mutate, expected in MUTATIONS],
)  # fmt: skip
def test_each_check_reports_what_breaks_it(
    deployment: cc.Deployment,
    tmp_path: Path,
    check: Callable[[cc.Deployment], list[str]],
    mutate: Mutation,
    expected: str,
) -> None:
    broken = copy.deepcopy(deployment)
    mutate(broken, tmp_path)
    problems = check(broken)
    assert any(expected in problem for problem in problems), problems


def test_every_check_has_a_mutation() -> None:
    assert {check for check, *_ in MUTATIONS} == set(cc.CHECKS)
