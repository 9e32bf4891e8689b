"""Checks that hold docker-compose.yml to the code, without a Docker engine.

Each ``check_*`` takes a :class:`Deployment` (the compose file and the configuration files
it mounts, already parsed) and returns the problems it finds, one readable line each; an
empty list means the check passed. The truth they compare against comes from the code:
the local runner's processes (``strangler.stack``), the settings classes and modules of
the components, their CLIs, and the metric registries.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import runpy
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import typer
import yaml
from pydantic_settings import BaseSettings
from strangler.config import DATABASES, REPO_ROOT, StackConfig
from strangler.supervisor import Component

CONTAINER_ROOT = "/app"  # WORKDIR of docker/Dockerfile: the repository root in the image
IMAGE_SERVICES_KEY = "build"  # services built from the repository's Dockerfile
# Read by the OpenTelemetry SDK (and the interpreter): set ahead of tracing on purpose.
STANDARD_ENV = frozenset(
    {
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "PYTHONUNBUFFERED",
    }
)
BIND_SETTINGS = frozenset({"--host", "FACADE_HOST", "HOST"})  # must listen on all interfaces
OPTIONAL_PEERS = frozenset({"jaeger"})  # traces are best effort: no start-up dependency
# Calls back up the chain, late: the monolith's storefront hands checkouts to the facade
# from step 5 on, and the facade starts after the monolith (it cannot be both ways).
CALLS_BACK = frozenset({("monolith", "facade")})

# -- loading ------------------------------------------------------------------------------

_COMPOSE_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` with every variable unset: the defaults as shipped."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            op, default = match.group(2), match.group(3)
            return default if op and op.endswith("-") else ""

        return _COMPOSE_VAR.sub(sub, value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@dataclass
class Deployment:
    root: Path
    compose: dict[str, Any]
    prometheus: dict[str, Any]
    dashboards: dict[str, dict[str, Any]]  # file name -> dashboard JSON
    datasources: list[dict[str, Any]]
    runner: dict[str, Component]  # the local runner's processes by name
    scrape_targets: dict[str, str]  # the local runner's Prometheus jobs
    config: StackConfig
    variables: set[str] = field(default_factory=set)  # the ${VAR}s compose interpolates
    missing: list[str] = field(default_factory=list)  # files the loader could not read

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        services: dict[str, dict[str, Any]] = self.compose.get("services") or {}
        return services

    def image_services(self) -> dict[str, dict[str, Any]]:
        return {n: s for n, s in self.services.items() if IMAGE_SERVICES_KEY in s}

    def mounted(self, service: str, container_path: str) -> Path | None:
        """The repository file a bind mount puts at ``container_path`` in ``service``."""
        for volume in self.services.get(service, {}).get("volumes", []):
            source, _, rest = str(volume).partition(":")
            target = rest.split(":")[0]
            if not source.startswith("."):
                continue
            if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
                return self.root / source / container_path[len(target) :].lstrip("/")
        return None


def load(root: Path, config: StackConfig, compose_text: str | None = None) -> Deployment:
    from strangler import stack

    text = compose_text or (root / "docker-compose.yml").read_text()
    raw = yaml.safe_load(text)
    deployment = Deployment(
        root=root,
        compose=interpolate(raw),
        prometheus={},
        dashboards={},
        datasources=[],
        runner={c.name: c for c in stack.applications(config)},
        scrape_targets=stack.scrape_targets(config),
        config=config,
        variables={
            m.group(1) for t in _strings(raw) for m in _COMPOSE_VAR.finditer(t) if m.group(1)
        },
    )
    prom = deployment.mounted("prometheus", "/etc/prometheus/prometheus.yml")
    if prom is not None and prom.is_file():
        deployment.prometheus = yaml.safe_load(prom.read_text())
    provisioning = deployment.mounted("grafana", "/etc/grafana/provisioning")
    if provisioning is not None:
        for path in sorted((provisioning / "datasources").glob("*.y*ml")):
            deployment.datasources += yaml.safe_load(path.read_text()).get("datasources", [])
        for path in sorted((provisioning / "dashboards").glob("*.y*ml")):
            for provider in yaml.safe_load(path.read_text()).get("providers", []):
                folder = deployment.mounted("grafana", provider["options"]["path"])
                if folder is None or not folder.is_dir():
                    deployment.missing.append(
                        f"grafana: dashboard provider path {provider['options']['path']} "
                        "is not mounted from a folder of the repository"
                    )
                    continue
                for board in sorted(folder.glob("*.json")):
                    deployment.dashboards[board.name] = json.loads(board.read_text())
    return deployment


# -- what the code reads and defines --------------------------------------------------------


class RecordingEnviron(dict[str, str]):
    """An ``os.environ`` stand-in that remembers every name looked up."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.names: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.names.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.names.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.names.add(str(key))
        return super().__contains__(key)


@contextlib.contextmanager
def recording_environ(values: Mapping[str, str] | None = None) -> Iterator[RecordingEnviron]:
    saved = os.environ
    recorder = RecordingEnviron(values)
    os.environ = recorder  # type: ignore[assignment]  # noqa: B003 - swapped back below
    try:
        yield recorder
    finally:
        os.environ = saved  # noqa: B003


def settings_env_names(settings: type[BaseSettings]) -> set[str]:
    """Environment names a pydantic-settings class reads: prefix + field, or its aliases."""
    prefix = str(settings.model_config.get("env_prefix") or "")
    names: set[str] = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.update(str(c) for c in choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def cli_env_names(app: typer.Typer) -> set[str]:
    """Environment names a typer application's options fall back to."""
    names: set[str] = set()
    pending = [typer.main.get_command(app)]
    while pending:
        command = pending.pop()
        pending.extend(getattr(command, "commands", {}).values())
        for param in command.params:
            envvar = param.envvar
            names.update([envvar] if isinstance(envvar, str) else list(envvar or []))
    return names


@dataclass(frozen=True)
class MonolithFacts:
    env: set[str]
    port: int  # gunicorn's default bind
    postgres_port: int
    redis_port: int


def monolith_facts() -> MonolithFacts:
    with recording_environ() as env:
        settings = runpy.run_path(str(REPO_ROOT / "monolith" / "shop" / "settings.py"))
        gunicorn = runpy.run_path(str(REPO_ROOT / "monolith" / "gunicorn.conf.py"))
    return MonolithFacts(
        env=env.names,
        port=int(str(gunicorn["bind"]).rpartition(":")[2]),
        postgres_port=urlsplit(settings["DEFAULT_DATABASE_URL"]).port or 5432,
        redis_port=urlsplit(settings["REDIS_URL"]).port or 6379,
    )


@dataclass(frozen=True)
class FacadeFacts:
    env: set[str]
    port: int  # python -m facade's default


def facade_facts(routes_file: Path | None) -> FacadeFacts:
    import facade.__main__ as entry
    import uvicorn
    from facade.config import interpolate as routes_interpolate
    from facade.gate import GateSettings
    from facade.settings import FacadeSettings

    started: dict[str, Any] = {}
    threshold = gc.get_threshold()
    real_run = uvicorn.run
    uvicorn.run = lambda *_a, **kw: started.update(kw)  # type: ignore[assignment]
    try:
        # The uvicorn front-end reads the same variables and returns at once when stubbed.
        with recording_environ({"FACADE_SERVER": "uvicorn"}) as env:
            entry.main()
            GateSettings.from_env(os.environ)
            if routes_file is not None and routes_file.is_file():
                routes_interpolate(yaml.safe_load(routes_file.read_text()), os.environ)
    finally:
        uvicorn.run = real_run  # type: ignore[assignment]
        gc.set_threshold(*threshold)
    return FacadeFacts(env=env.names | settings_env_names(FacadeSettings), port=started["port"])


def catalog_env() -> set[str]:
    from catalog_service.entrypoints.cli import app
    from catalog_service.settings import Settings

    return settings_env_names(Settings) | cli_env_names(app)


def orders_env() -> set[str]:
    from orders_service.entrypoints.cli import app
    from orders_service.settings import Settings

    return settings_env_names(Settings) | cli_env_names(app)


def catalog_serve_port() -> int:
    from catalog_service.entrypoints.cli import app

    command = typer.main.get_command(app)
    serve = command.commands["serve"]  # type: ignore[attr-defined]
    return int(next(p.default for p in serve.params if p.name == "port"))


def outbox_env() -> set[str]:
    from outbox.cli import app

    return cli_env_names(app)


def defined_metric_names() -> set[str]:
    """Every series name the components can expose, from their registries."""
    from facade.metrics import Metrics as FacadeMetrics
    from outbox.relay import RelayMetrics
    from prometheus_client import CollectorRegistry
    from service_kit.metrics import Metrics as ServiceMetrics

    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "info": ("_info",),
        "unknown": ("",),
    }
    registries = [
        FacadeMetrics().registry,
        ServiceMetrics().registry,
        RelayMetrics(CollectorRegistry()).registry,
    ]
    names: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
            names.update(sample.name for sample in family.samples)
    return names


_PROMQL_WORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
     "unless", "offset", "le", "inf", "nan"}
)  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names or strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\b\d[\w.]*", "", text)  # numbers and durations (0.95, 5m)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\()?)", text):
        if match.group(1) or match.group(0).lower() in _PROMQL_WORDS:
            continue
        names.add(match.group(0))
    return names


def promql_jobs(expr: str) -> set[str]:
    return set(re.findall(r'\bjob\s*=\s*"([^"]+)"', expr))


# -- normalising the runner's and compose's command lines ------------------------------------


def _argv(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value or []]


def normalise(value: str, config: StackConfig) -> str:
    """Make a runner value and a compose value comparable: the interpreter, the repository
    root, the state folder and server addresses differ by design."""
    state = str(config.state_dir)
    if value == sys.executable:
        return "python"
    if value == state or value.startswith(state + "/"):
        return ".state" + value[len(state) :]
    root = str(REPO_ROOT)
    for prefix in (root, CONTAINER_ROOT):
        if value == prefix:
            return "."
        if value.startswith(prefix + "/"):
            return value[len(prefix) + 1 :]
    if "://" in value:
        parts = urlsplit(value)
        return f"{parts.scheme}://<server>{parts.path}"
    return value


def _normalise_argv(argv: list[str], config: StackConfig) -> list[str]:
    out = []
    for i, arg in enumerate(argv):
        out.append("<bind>" if i and argv[i - 1] in BIND_SETTINGS else normalise(arg, config))
    return out


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(str(item).partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _module_of(argv: list[str]) -> str:
    """The Python module (or console script) a command line runs."""
    if len(argv) > 2 and argv[1] == "-m":
        if argv[2] == "celery" and "-A" in argv:
            return argv[argv.index("-A") + 1].split(".")[0]
        return argv[2]
    return PurePosixPath(argv[0]).name if argv else ""


# -- the checks ---------------------------------------------------------------------------


def check_commands(d: Deployment) -> list[str]:
    """Each application service runs what the runner starts for the same part: the same
    module, subcommand and flags, the same working folder, the same per-part settings."""
    problems: list[str] = []
    services = d.services
    for name, component in d.runner.items():
        service = services.get(name)
        if service is None:
            problems.append(f"{name}: the runner starts it, docker-compose.yml has no service")
            continue
        want = _normalise_argv(list(component.command), d.config)
        got = _normalise_argv(_argv(service.get("command")), d.config)
        if want != got:
            problems.append(f"{name}: command {got} differs from the runner's {want}")
        for i, arg in enumerate(_argv(service.get("command"))[:-1]):
            if arg in BIND_SETTINGS and _argv(service.get("command"))[i + 1] != "0.0.0.0":
                problems.append(f"{name}: {arg} must be 0.0.0.0 in a container")
        if component.cwd is not None:
            want_cwd = normalise(str(component.cwd), d.config)
            got_cwd = normalise(str(service.get("working_dir", CONTAINER_ROOT)), d.config)
            if want_cwd != got_cwd:
                problems.append(
                    f"{name}: working_dir {got_cwd} differs from the runner's {want_cwd}"
                )
        common = d.config.component_env()
        env = _environment(service)
        for key, value in component.env.items():
            if common.get(key) == value:
                continue  # the environment every part gets; compose sets what each reads
            if key not in env:
                problems.append(f"{name}: the runner sets {key}, docker-compose.yml does not")
            elif key in BIND_SETTINGS:
                if env[key] != "0.0.0.0":
                    problems.append(f"{name}: {key} must be 0.0.0.0 in a container")
            elif normalise(env[key], d.config) != normalise(value, d.config):
                problems.append(f"{name}: {key}={env[key]!r} differs from the runner's {value!r}")
    return problems


def check_jobs(d: Deployment) -> list[str]:
    """The one-shot jobs run `strangler prepare <part>` (the runner's own preparation), for
    every part, and what they are given parses."""
    from strangler.cli import app

    cli = typer.main.get_command(app)
    problems: list[str] = []
    parts_seen: set[str] = set()
    for name, service in d.image_services().items():
        argv = _argv(service.get("command"))
        if argv[:1] != ["strangler"]:
            continue
        if service.get("restart") != "no":
            problems.append(f'{name}: a one-shot job needs restart: "no"')
        prepare = getattr(cli, "commands", {}).get("prepare")
        if prepare is None or argv[1:2] != ["prepare"]:
            problems.append(f"{name}: {argv} is not `strangler prepare`")
            continue
        try:
            parsed = prepare.make_context("prepare", argv[2:])
        except Exception as exc:  # click reports bad arguments as exceptions
            problems.append(f"{name}: {argv} does not parse: {exc}")
            continue
        parts_seen.add(str(parsed.params["part"].value))
    for part in ("monolith", "catalog", "orders"):
        if part not in parts_seen:
            problems.append(f"no job runs `strangler prepare {part}` (the runner prepares it)")
    return problems


def check_modules(d: Deployment) -> list[str]:
    """What a command runs exists: the module, the Celery app, the console script, the
    gunicorn config; and the image installs the workspace package that provides it."""
    import importlib.metadata
    import importlib.util

    problems: list[str] = []
    packages = _dockerfile_packages(d)
    members = _workspace_members(d.root)
    for name, service in d.image_services().items():
        argv = _argv(service.get("command"))
        module = _module_of(argv)
        if len(argv) > 2 and argv[1] == "-m":
            if importlib.util.find_spec(argv[2]) is None:
                problems.append(f"{name}: module {argv[2]} does not exist")
                continue
            if "-A" in argv and importlib.util.find_spec(argv[argv.index("-A") + 1]) is None:
                problems.append(f"{name}: Celery app {argv[argv.index('-A') + 1]} does not exist")
                continue
        else:
            scripts = importlib.metadata.entry_points(group="console_scripts", name=module)
            if not scripts:
                problems.append(f"{name}: no console script {module!r}")
                continue
            module = next(iter(scripts)).value.split(".")[0].split(":")[0]
        if module == "gunicorn":
            module = _argv(service.get("command"))[-1].split(".")[0]  # the WSGI app's package
        spec = importlib.util.find_spec(module)
        origin = Path(spec.origin) if spec and spec.origin else None
        for member_dir, package in members.items():
            inside = origin is not None and origin.is_relative_to(d.root / member_dir)
            if inside and package not in packages:
                problems.append(
                    f"{name}: runs {module} from workspace package {package}, which "
                    "docker/Dockerfile does not install (--package)"
                )
    return problems


def check_ports(d: Deployment) -> list[str]:
    """Ports agree between the runner, the components' own defaults, the documented table
    (migrations-plan/README.md), and every address in docker-compose.yml."""
    monolith = monolith_facts()
    config = d.config
    expected = {
        "monolith": config.monolith_port,
        "catalog": config.catalog_port,
        "facade": config.facade_port,
        "relay": config.relay_metrics_port,
        "postgres": monolith.postgres_port,
        "redis": monolith.redis_port,
    }
    problems: list[str] = []
    facade = facade_facts(None)
    own_defaults = {
        "monolith": monolith.port,
        "catalog": catalog_serve_port(),
        "facade": facade.port,
    }
    for part, port in own_defaults.items():
        if port != expected[part]:
            problems.append(f"{part}: its own default port {port} != the runner's {expected[part]}")
    documented = _documented_ports(d.root)
    for part in ("monolith", "catalog", "facade"):
        if documented.get(part) != expected[part]:
            problems.append(
                f"{part}: migrations-plan/README.md says port {documented.get(part)}, "
                f"the runner uses {expected[part]}"
            )
    for name, service in d.services.items():
        for text in _strings(service):
            for host, port in re.findall(r"://(?:[^@/\s]+@)?([A-Za-z0-9_.-]+):(\d+)", text):
                target = name if host in {"127.0.0.1", "localhost"} else host
                if target in expected and int(port) != expected[target]:
                    problems.append(
                        f"{name}: {text!r} uses port {port} for {target}, which listens on "
                        f"{expected[target]}"
                    )
        for exposed in service.get("expose", []):
            if name in expected and int(exposed) != expected[name]:
                problems.append(f"{name}: exposes {exposed}, listens on {expected[name]}")
        for published in service.get("ports", []):
            inside = int(str(published).rsplit(":", 1)[-1].split("/")[0])
            if name in expected and inside != expected[name]:
                problems.append(
                    f"{name}: publishes container port {inside}, listens on {expected[name]}"
                )
    return problems


def check_environment(d: Deployment) -> list[str]:
    """Every variable an application service sets is one its component reads."""
    monolith = monolith_facts().env
    catalog = catalog_env()
    readers: dict[str, Callable[[dict[str, str]], set[str]]] = {
        "shop": lambda _env: monolith,
        "gunicorn": lambda _env: monolith,
        "catalog_service": lambda _env: catalog,
        "orders_service": lambda _env: orders_env(),
        "outbox": lambda _env: outbox_env(),
        "facade": lambda env: facade_facts(_routes_path(d, env)).env,
        "strangler": lambda _env: monolith | catalog,  # prepare runs manage.py and the service
    }
    problems: list[str] = []
    for name, service in d.image_services().items():
        module = _module_of(_argv(service.get("command")))
        env = _environment(service)
        reader = readers.get(module)
        if reader is None:
            problems.append(f"{name}: no known settings for {module!r}")
            continue
        for key in sorted(set(env) - reader(env) - STANDARD_ENV):
            problems.append(f"{name}: sets {key}, which {module} never reads")
    return problems


def check_files(d: Deployment) -> list[str]:
    """Every file compose refers to exists, and the image holds the ones used inside it."""
    problems = list(d.missing)
    ignored = _dockerignore(d.root)
    for name, service in d.services.items():
        build = service.get("build")
        if build:
            context = d.root / (build.get("context", ".") if isinstance(build, dict) else build)
            dockerfile = context / (
                build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            )
            if not dockerfile.is_file():
                problems.append(
                    f"{name}: Dockerfile {dockerfile.relative_to(d.root)} does not exist"
                )
        for volume in service.get("volumes", []):
            source = str(volume).partition(":")[0]
            if source.startswith(".") and not (d.root / source).exists():
                problems.append(f"{name}: mounts {source}, which does not exist")
        if build:
            for text in [*_argv(service.get("command")), *_environment(service).values(),
                         str(service.get("working_dir", ""))]:  # fmt: skip
                if not text.startswith(CONTAINER_ROOT + "/") or "/.state" in text:
                    continue
                relative = text[len(CONTAINER_ROOT) + 1 :]
                if not (d.root / relative).exists():
                    problems.append(
                        f"{name}: {text} is {relative} in the repository, which does not exist"
                    )
                elif any(_ignored(relative, p) for p in ignored):
                    problems.append(f"{name}: {text} is left out of the image by .dockerignore")
    for env_key in ("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",):
        for name, service in d.services.items():
            path = _environment(service).get(env_key)
            if path:
                local = d.mounted(name, path)
                if local is None or not local.is_file():
                    problems.append(
                        f"{name}: {env_key}={path} is no mounted file of the repository"
                    )
    return problems


def check_dockerfile(d: Deployment) -> list[str]:
    """The Dockerfile copies what it names and every workspace member's pyproject (uv sync
    --frozen resolves the whole workspace), and installs with uv sync --frozen as non-root."""
    problems: list[str] = []
    for name, service in d.image_services().items():
        build = service["build"]
        path = d.root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        if not path.is_file():
            continue  # check_files reports it
        text = path.read_text().replace("\\\n", " ")
        copied = set()
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
                for source in words[1:-1]:
                    copied.add(source)
                    if not (d.root / source).exists():
                        problems.append(
                            f"{name}: {path.name} copies {source}, which does not exist"
                        )
        for member in _workspace_members(d.root):
            if f"{member}/pyproject.toml" not in copied:
                problems.append(f"{name}: {path.name} does not copy {member}/pyproject.toml first")
        if "uv sync --frozen" not in " ".join(text.split()):
            problems.append(f"{name}: {path.name} does not install with `uv sync --frozen`")
        if not re.search(r"^USER\s+(?!root\b|0\b)\S+", text, re.M):
            problems.append(f"{name}: {path.name} runs as root (no USER)")
        if not re.search(r"^FROM\s+python:3\.11-slim\b", text, re.M):
            problems.append(f"{name}: {path.name} is not built FROM python:3.11-slim")
    return problems


def check_dependencies(d: Deployment) -> list[str]:
    """depends_on targets exist, have what their condition needs, and every server a
    service talks to is started (and healthy or done) before it."""
    problems: list[str] = []
    services = d.services
    for name, service in services.items():
        if service.get("restart") != "no" and not (service.get("healthcheck") or {}).get("test"):
            problems.append(f"{name}: a long-running service without a healthcheck")
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            problems.append(f"{name}: depends_on without conditions starts it too early")
            depends = {target: {} for target in depends}
        for target, spec in depends.items():
            condition = (spec or {}).get("condition", "service_started")
            if target not in services:
                problems.append(f"{name}: depends on {target}, which is no service")
            elif condition == "service_healthy" and not (
                services[target].get("healthcheck") or {}
            ).get("test"):
                problems.append(f"{name}: waits for {target} to be healthy; it has no healthcheck")
            elif (
                condition == "service_completed_successfully"
                and services[target].get("restart") != "no"
            ):
                problems.append(f"{name}: waits for {target} to complete; it is long-running")
            elif condition == "service_started":
                problems.append(
                    f"{name}: depends on {target} without a health/completion condition"
                )
    for name, service in d.image_services().items():
        before = _upstream_of(name, services)
        for text in _strings(service):
            for host in re.findall(r"://(?:[^@/\s]+@)?([A-Za-z0-9_-]+)[:/]", text):
                if (
                    host in services
                    and host not in OPTIONAL_PEERS
                    and host != name
                    and host not in before
                    and (name, host) not in CALLS_BACK
                ):
                    problems.append(f"{name}: talks to {host} but does not depend on it")
    return problems


def check_databases(d: Deployment) -> list[str]:
    """The PostgreSQL service creates one database per part (the runner's list), and every
    database URL names one of them."""
    postgres = d.services.get("postgres") or {}
    created = {_environment(postgres).get("POSTGRES_DB", "postgres")}
    for volume in postgres.get("volumes", []):
        source, _, target = str(volume).partition(":")
        if target.startswith("/docker-entrypoint-initdb.d") and (d.root / source).is_file():
            created |= set(
                re.findall(r"CREATE DATABASE\s+\"?(\w+)", (d.root / source).read_text(), re.I)
            )
    problems = []
    if created != set(DATABASES):
        problems.append(
            f"postgres: creates databases {sorted(created)}, the parts need {sorted(DATABASES)}"
        )
    for name, service in d.services.items():
        for text in _strings(service):
            for database in re.findall(r"postgres(?:ql)?://[^/\s]+/(\w+)", text):
                if database not in created:
                    problems.append(f"{name}: uses database {database}, which nothing creates")
    return problems


def check_prometheus(d: Deployment) -> list[str]:
    """Prometheus scrapes the runner's jobs, each at its compose service and metrics port."""
    problems: list[str] = []
    jobs: dict[str, list[str]] = {}
    for job in d.prometheus.get("scrape_configs", []):
        targets = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
        jobs[job["job_name"]] = targets
        if job.get("metrics_path", "/metrics") != "/metrics":
            problems.append(f"prometheus: job {job['job_name']} scrapes {job['metrics_path']}")
    if set(jobs) != set(d.scrape_targets):
        problems.append(
            f"prometheus: jobs {sorted(jobs)} differ from the components serving /metrics "
            f"{sorted(d.scrape_targets)}"
        )
    for job, targets in jobs.items():
        want = d.scrape_targets.get(job)
        for target in targets:
            host, _, port = target.rpartition(":")
            if host not in d.services:
                problems.append(f"prometheus: job {job} scrapes {target}, {host} is no service")
            elif host != job:
                problems.append(f"prometheus: job {job} scrapes service {host}")
            if want is not None and port != want.rpartition(":")[2]:
                problems.append(f"prometheus: job {job} scrapes port {port}, it serves on {want}")
    return problems


def check_dashboards(d: Deployment) -> list[str]:
    """The Migration dashboard exists, and its queries use only metrics the code defines,
    jobs Prometheus has and datasources Grafana is given."""
    problems: list[str] = []
    known = defined_metric_names()
    jobs = {job["job_name"] for job in d.prometheus.get("scrape_configs", [])}
    datasources = {ds.get("uid") for ds in d.datasources}
    if not any(board.get("title") == "Migration" for board in d.dashboards.values()):
        problems.append("grafana: no dashboard titled Migration is provisioned")
    for file, board in d.dashboards.items():
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                where = f"{file}: panel {panel.get('title')!r}"
                for metric in sorted(promql_metric_names(expr) - known):
                    problems.append(f"{where} queries {metric}, which no component defines")
                for job in sorted(promql_jobs(expr) - jobs):
                    problems.append(f"{where} queries job {job}, which Prometheus does not scrape")
                uid = (target.get("datasource") or panel.get("datasource") or {}).get("uid")
                if uid not in datasources:
                    problems.append(f"{where} uses datasource {uid}, which is not provisioned")
    return problems


def check_documented(d: Deployment) -> list[str]:
    """Every variable compose takes from the environment is documented in .env.example."""
    example = d.root / ".env.example"
    documented = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", example.read_text(), re.M))
    return [
        f"docker-compose.yml: ${{{name}}} is not documented in .env.example"
        for name in sorted(d.variables - documented)
    ]


CHECKS = (
    check_commands,
    check_jobs,
    check_modules,
    check_ports,
    check_environment,
    check_files,
    check_dockerfile,
    check_dependencies,
    check_databases,
    check_prometheus,
    check_dashboards,
    check_documented,
)


# -- helpers ------------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _upstream_of(name: str, services: dict[str, dict[str, Any]]) -> set[str]:
    seen: set[str] = set()
    pending = [name]
    while pending:
        for target in services.get(pending.pop(), {}).get("depends_on") or {}:
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def _routes_path(d: Deployment, env: dict[str, str]) -> Path | None:
    value = env.get("FACADE_ROUTES_FILE")
    if not value:
        return None
    return d.root / normalise(value, d.config)


def _documented_ports(root: Path) -> dict[str, int]:
    ports = {}
    for line in (root / "migrations-plan" / "README.md").read_text().splitlines():
        match = re.match(r"\|\s*(\w+)[^|]*\|\s*(\d+)\s*\|", line)
        if match:
            ports[match.group(1)] = int(match.group(2))
    return ports


def _workspace_members(root: Path) -> dict[str, str]:
    """member folder -> package name."""
    workspace = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    return {
        member: tomllib.loads((root / member / "pyproject.toml").read_text())["project"]["name"]
        for member in workspace["members"]
    }


def _dockerfile_packages(d: Deployment) -> set[str]:
    packages: set[str] = set()
    for service in d.image_services().values():
        build = service["build"]
        path = d.root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        if path.is_file():
            packages |= set(re.findall(r"--package[ =]+([A-Za-z0-9_.-]+)", path.read_text()))
    return packages


def _dockerignore(root: Path) -> list[str]:
    path = root / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith(("#", "!"))]


def _ignored(relative: str, pattern: str) -> bool:
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern.startswith("**/"):
        return any(fnmatch(part, pattern[3:]) for part in parts)
    return any(fnmatch(prefix, pattern) for prefix in prefixes)
