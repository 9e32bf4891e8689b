"""The local stack: which processes run, in what order, and how each is judged ready."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import redis
import yaml
from rich.console import Console

from strangler import orders_ownership, ownership, retire
from strangler.config import DATABASES, REPO_ROOT, StackConfig
from strangler.embedded import EmbeddedPostgres, EmbeddedRedis, port_is_free
from strangler.supervisor import Component, StackError, Supervisor

MONOLITH_DIR = REPO_ROOT / "monolith"
MANAGE = [sys.executable, str(MONOLITH_DIR / "manage.py")]


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@dataclass(frozen=True)
class Probe:
    """One public URL the demo check asks; ``expect`` is a substring of the body."""

    name: str
    url: str
    expect: str = ""
    status: int = 200


def _postgres_ready(url: str) -> bool:
    with psycopg.connect(url, connect_timeout=1):
        return True


def _redis_ready(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


def infrastructure(config: StackConfig) -> list[Component]:
    """Embedded PostgreSQL/Redis for whatever the environment did not provide."""
    parts: list[Component] = []
    for wanted, port, setting in (
        (config.embedded_postgres, config.pg_port, "STRANGLER_PG_PORT"),
        (config.embedded_redis, config.redis_port, "STRANGLER_REDIS_PORT"),
    ):
        if wanted and not port_is_free(port):
            raise StackError(
                f"port {port} on 127.0.0.1 is taken (another stack still running?); "
                f"stop it or choose another port with {setting}"
            )
    if config.embedded_postgres:
        pg = EmbeddedPostgres(config.state_dir / "postgres", config.pg_port, databases=DATABASES)
        ids = pg.prepare()
        parts.append(
            Component(
                name="postgres",
                command=pg.command(),
                run_as=ids,
                ready_check=lambda: _postgres_ready(pg.url_for("postgres")),
                ready_timeout=60,
            )
        )
    if config.embedded_redis:
        rd = EmbeddedRedis(config.state_dir / "redis", config.redis_port)
        rd.prepare()
        parts.append(
            Component(
                name="redis",
                command=rd.command(),
                ready_check=lambda: _redis_ready(rd.url),
            )
        )
    return parts


def ensure_databases(config: StackConfig) -> None:
    """Create the per-component databases on the server that holds the shop's."""
    admin_url = config.db_url("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in existing:
                conn.execute(f'CREATE DATABASE "{name}"')


CATALOG_QUEUE = "catalog.events"
CATALOG_TASK = "catalog.apply"


def catalog_queues(config: StackConfig) -> list[str]:
    """The catalog consumer's queue (bulkhead), or its lane queues with several lanes."""
    if config.catalog_sync_lanes == 1:
        return [CATALOG_QUEUE]
    return [f"{CATALOG_QUEUE}.{lane}" for lane in range(config.catalog_sync_lanes)]


# Each component's command line comes from one function: the runner starts it, and
# tests/test_compose.py holds docker-compose.yml to the same module, subcommand and flags.


def monolith_command() -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "-c", str(MONOLITH_DIR / "gunicorn.conf.py"),
        "shop.wsgi:application",
    ]  # fmt: skip


def catalog_command(config: StackConfig, *, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable, "-m", "catalog_service", "serve",
        "--host", host, "--port", str(config.catalog_port),
    ]  # fmt: skip


def outbox_relay(config: StackConfig, database: str, task: str, queue: str) -> list[str]:
    """``python -m outbox relay`` from ``database``'s outbox to ``task`` on ``queue``."""
    return [
        sys.executable, "-m", "outbox", "relay",
        "--dsn", config.db_url(database),
        "--broker", config.broker_url(),
        "--task", task,
        "--queue", queue,
    ]  # fmt: skip


def relay_command(config: StackConfig) -> list[str]:
    return [
        *outbox_relay(config, "shop", CATALOG_TASK, CATALOG_QUEUE),
        "--lanes", str(config.catalog_sync_lanes),
        "--metrics-port", str(config.relay_metrics_port),
    ]  # fmt: skip


# Seconds between anti-entropy rounds: a round reads both catalogs (~1 s per 10k products).
RECONCILE_EVERY = 60


def reconcile_command(config: StackConfig) -> list[str]:
    """The anti-entropy loop: repairs drift that outlives the event path (a lost delivery)."""
    return [
        sys.executable, "-m", "catalog_service", "reconcile",
        "--source-url", config.db_url("shop"),
        "--database-url", config.db_url("catalog"),
        "--watch", str(RECONCILE_EVERY),
        "--heartbeat", str(config.state_dir / "reconcile.alive"),
    ]  # fmt: skip


SHOP_TASK, SHOP_QUEUE = "shop.catalog.apply", "shop.catalog-sync"
# Step 5's reverse path for orders: the orders database's outbox -> the monolith's worker.
SHOP_ORDERS_TASK, SHOP_ORDERS_QUEUE = "shop.orders.apply", "shop.orders-sync"


def reverse_relay_command(config: StackConfig) -> list[str]:
    """Step 4's reverse path: the catalog database's outbox -> the monolith's consumer."""
    return outbox_relay(config, "catalog", SHOP_TASK, SHOP_QUEUE)


def orders_relay_command(config: StackConfig) -> list[str]:
    return outbox_relay(config, "orders", SHOP_ORDERS_TASK, SHOP_ORDERS_QUEUE)


def orders_command(config: StackConfig, *, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable, "-m", "orders_service", "serve",
        "--host", host, "--port", str(config.orders_port),
    ]  # fmt: skip


def saga_worker_command() -> list[str]:
    """Finishes (or compensates) every checkout saga whose driver died: a crashed request,
    a killed service."""
    return [sys.executable, "-m", "orders_service", "saga-worker"]


def shop_sync_command() -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "shop.sync.consumer", "worker",
        "-Q", f"{SHOP_QUEUE},{SHOP_ORDERS_QUEUE}", "-P", "solo", "-n", "shop-sync@%h",
        "--without-gossip", "--without-mingle", "--loglevel=INFO",
    ]  # fmt: skip


def sync_command(lane: int, queue: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "catalog_service.entrypoints.consumer", "worker",
        "-Q", queue, "-P", "solo", "-n", f"catalog-sync-{lane}@%h",
        "--without-gossip", "--without-mingle", "--loglevel=INFO",
    ]  # fmt: skip


def facade_command() -> list[str]:
    return [sys.executable, "-m", "facade"]


FACADE_ROUTES_FILE = REPO_ROOT / "migrations-plan" / "step-1-facade" / "routes.yaml"


def identity_keys(config: StackConfig) -> tuple[Path, Path]:
    """The key pair of the identity bridge, made once under the state folder: the facade
    signs identity tokens with the private half, the extracted services verify them with
    the public half."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    folder = config.state_dir / "identity"
    private, public = folder / "facade-ed25519.pem", folder / "facade-ed25519.pub.pem"
    if not private.exists() or not public.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        private.touch(mode=0o600)
        private.write_bytes(pem)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public


def catalog_env(config: StackConfig, env: dict[str, str]) -> dict[str, str]:
    """What the catalog service gets on top of the common environment."""
    if env.get("CATALOG_IDENTITY_PUBLIC_KEY") or env.get("CATALOG_IDENTITY_PUBLIC_KEY_FILE"):
        return {}
    return {"CATALOG_IDENTITY_PUBLIC_KEY_FILE": str(identity_keys(config)[1])}


def orders_env(config: StackConfig, env: dict[str, str]) -> dict[str, str]:
    """What the orders service and its saga worker get on top of the common environment."""
    if env.get("ORDERS_IDENTITY_PUBLIC_KEY") or env.get("ORDERS_IDENTITY_PUBLIC_KEY_FILE"):
        return {}
    return {"ORDERS_IDENTITY_PUBLIC_KEY_FILE": str(identity_keys(config)[1])}


def facade_env(config: StackConfig, env: dict[str, str]) -> dict[str, str]:
    """What the facade gets on top of the common environment."""
    identity = {}
    if not (env.get("FACADE_IDENTITY_PRIVATE_KEY") or env.get("FACADE_IDENTITY_PRIVATE_KEY_FILE")):
        identity["FACADE_IDENTITY_PRIVATE_KEY_FILE"] = str(identity_keys(config)[0])
    return {
        **identity,
        "FACADE_ROUTES_FILE": env.get("FACADE_ROUTES_FILE") or str(FACADE_ROUTES_FILE),
        "FACADE_HOST": "127.0.0.1",
        "FACADE_PORT": str(config.facade_port),
        "FACADE_AUDIT_LOG_FILE": str(config.state_dir / "facade-audit.jsonl"),
        # No canary or cut-over without a green contract verification.
        "FACADE_CONTRACT_GATE": env.get("FACADE_CONTRACT_GATE") or "on",
        "FACADE_CONTRACT_PACTS_DIR": str(REPO_ROOT / "contracts" / "pacts"),
        "FACADE_CONTRACT_LEDGER": env.get("CONTRACTS_LEDGER")
        or str(config.state_dir / "contracts" / "ledger.json"),
    }


def sync_components(config: StackConfig) -> list[Component]:
    """The outbox relay (monolith DB -> broker) and one catalog consumer worker per lane."""
    env = config.component_env()
    parts = [
        Component(
            name="relay",
            command=relay_command(config),
            env=env,
            ready_url=config.relay_metrics_url,
        )
    ]
    for lane, queue in enumerate(catalog_queues(config)):
        parts.append(
            Component(
                name="sync" if config.catalog_sync_lanes == 1 else f"sync.{lane}",
                command=sync_command(lane, queue),
                env={
                    **env,
                    "CATALOG_BROKER_URL": config.broker_url(),
                    "CATALOG_SYNC_METRICS_PORT": str(config.sync_metrics_port + lane),
                },
            )
        )
    # The reverse path idles until catalog writes move to the service (step 4); it runs
    # from the start so that `strangler ownership switch` finds it ready.
    parts.append(Component(name="reverse-relay", command=reverse_relay_command(config), env=env))
    parts.append(
        Component(
            name="shop-sync",
            command=shop_sync_command(),
            cwd=MONOLITH_DIR,
            # Its broker is REDIS_URL (what shop.sync.consumer falls back to): the relay's.
            env={**env, "REDIS_URL": config.broker_url()},
        )
    )
    parts.append(
        Component(
            name="reconcile",
            command=reconcile_command(config),
            cwd=REPO_ROOT,  # the re-emit command is `python monolith/manage.py catalog_reemit`
            env=env,
        )
    )
    return parts


def orders_components(config: StackConfig) -> list[Component]:
    """The orders service, its saga worker and the relay of its order events to the
    monolith. They idle until step 5 routes checkout to the service."""
    common = config.component_env()
    env = {**common, **orders_env(config, common)}
    return [
        Component(
            name="orders",
            command=orders_command(config),
            env=env,
            ready_url=f"{config.orders_url}/readyz",
            public_urls={"orders service": f"{config.orders_url}/docs"},
        ),
        Component(name="saga-worker", command=saga_worker_command(), env=env),
        Component(name="orders-relay", command=orders_relay_command(config), env=common),
    ]


def applications(config: StackConfig) -> list[Component]:
    env = config.component_env()
    parts = [
        Component(
            name="monolith",
            command=monolith_command(),
            cwd=MONOLITH_DIR,
            env={**env, "PORT": str(config.monolith_port)},
            ready_url=f"{config.monolith_url}/readyz",
            public_urls={
                "storefront (direct)": f"{config.monolith_url}/",
            },
        )
    ]
    if has_module("catalog_service"):
        parts.append(
            Component(
                name="catalog",
                command=catalog_command(config),
                env={**env, **catalog_env(config, env)},
                ready_url=f"{config.catalog_url}/readyz",
                public_urls={
                    "catalog service": f"{config.catalog_url}/api/products/",
                    "catalog v2 API": f"{config.catalog_url}/v2/products",
                },
            )
        )
        parts += sync_components(config)
    if has_module("orders_service"):
        parts += orders_components(config)
    if has_module("facade.app"):
        parts.append(
            Component(
                name="facade",
                command=facade_command(),
                env={**env, **facade_env(config, env)},
                ready_url=f"{config.facade_url}/readyz",
                public_urls={
                    "storefront": f"{config.facade_url}/",
                    "API": f"{config.facade_url}/api/products/",
                    "admin": f"{config.facade_url}/admin/",
                    "facade metrics": f"{config.facade_url}/metrics",
                },
            )
        )
    return parts


def run_manage(config: StackConfig, *args: str, console: Console) -> None:
    env = config.component_env()
    result = subprocess.run([*MANAGE, *args], cwd=MONOLITH_DIR, env=env, check=False)
    if result.returncode != 0:
        raise StackError(f"manage.py {' '.join(args)} failed with exit code {result.returncode}")


def product_count(config: StackConfig, database: str = "shop") -> int:
    table = "shop_product" if database == "shop" else "products"
    with psycopg.connect(config.db_url(database)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        return int(row[0]) if row else 0


def run_catalog(config: StackConfig, *args: str) -> None:
    command = [sys.executable, "-m", "catalog_service", *args]
    result = subprocess.run(command, env=config.component_env(), check=False)
    if result.returncode != 0:
        raise StackError(f"catalog-service {args[0]} failed with exit code {result.returncode}")


def prepare_catalog(config: StackConfig, *, console: Console) -> None:
    """Migrate the catalog service's database and, when it is empty, backfill it; make the
    identity bridge's key pair (compose runs this as the job before the facade and the
    catalog service, which read the keys from the shared state folder)."""
    identity_keys(config)
    console.print("[bold]» migrating the catalog database[/]")
    run_catalog(config, "migrate", "--database-url", config.db_url("catalog"))
    if product_count(config, "catalog") == 0:
        console.print("[bold]» backfilling the catalog service from the monolith[/]")
        run_catalog(
            config, "backfill", "--source-url", config.db_url("shop"),
            "--database-url", config.db_url("catalog"),
        )  # fmt: skip


def run_orders(config: StackConfig, *args: str) -> None:
    command = [sys.executable, "-m", "orders_service", *args]
    result = subprocess.run(command, env=config.component_env(), check=False)
    if result.returncode != 0:
        raise StackError(f"orders-service {args[0]} failed with exit code {result.returncode}")


def prepare_orders(config: StackConfig, *, console: Console) -> None:
    """Migrate the orders service's database. Its orders arrive at step 5: the cut-over
    imports the monolith's order history (`orders-service backfill`)."""
    console.print("[bold]» migrating the orders database[/]")
    run_orders(config, "migrate", "--database-url", config.db_url("orders"))


DEMO_CUSTOMERS = 200


def prepare_monolith(config: StackConfig, *, products: int, console: Console) -> None:
    """Create the databases, migrate the shop and, when it is empty, seed it."""
    ensure_databases(config)
    console.print("[bold]» migrating the shop database[/]")
    run_manage(config, "migrate", "--noinput", "-v", "0", console=console)
    if product_count(config) == 0:
        console.print(f"[bold]» seeding the shop with {products} products[/]")
        # Enough customers that a canary of the order reads (sticky per customer) has some.
        customers = str(max(DEMO_CUSTOMERS, products // 50))
        run_manage(config, "seed_shop", "--products", str(products), "--customers", customers,
                   console=console)  # fmt: skip
    else:
        console.print("[dim]» the shop already has data; not seeding (use `strangler reset`)[/]")


def prepare_data(config: StackConfig, *, products: int, console: Console) -> None:
    """Everything the applications need in their databases before they start; the
    compose stack runs the same two steps as one-shot jobs (`strangler prepare`)."""
    prepare_monolith(config, products=products, console=console)
    if has_module("catalog_service"):
        prepare_catalog(config, console=console)
    if has_module("orders_service"):
        prepare_orders(config, console=console)


def bring_up(
    supervisor: Supervisor, config: StackConfig, *, products: int, console: Console
) -> list[Component]:
    for part in infrastructure(config):
        supervisor.start(part)
    prepare_data(config, products=products, console=console)
    apps = applications(config)
    for part in apps:
        supervisor.start(part)
    hand_back_to_the_monolith(config, console=console)
    for part in observability(config, console=console):
        supervisor.start(part)
        apps.append(part)
    return apps


def hand_back_to_the_monolith(config: StackConfig, *, console: Console) -> None:
    """The facade starts at step 1, where the monolith owns catalog writes and checkout and
    writes its own tables. The flags and table guards live in the databases, which outlive
    the stack: a stack stopped at step 4, 5 or 6 left them moved, so hand them back
    (drained, as applying the earlier step does); the relays and consumers this needs are
    running by now."""
    if not has_module("catalog_service"):
        return
    dbs = ownership.Databases(config.db_url("shop"), config.db_url("catalog"))
    guarded = [p.table for p in retire.status(config.db_url("shop"))]
    if guarded:
        console.print(f"» legacy tables were left read-only (step 6): {', '.join(guarded)}; "
                      "making them writable for step 1")  # fmt: skip
        retire.make_writable(config.db_url("shop"), guarded)
    if has_module("orders_service"):
        orders_dbs = ownership.Databases(config.db_url("shop"), config.db_url("orders"))
        if orders_ownership.owner(orders_dbs) == "service":
            console.print("» checkout was left with the orders service (step 5); the facade "
                          "starts at step 1: handing it back to the monolith")  # fmt: skip
            try:
                orders_ownership.switch(orders_dbs, "monolith", timeout=60)
            except ownership.SwitchFailed as exc:
                raise StackError(f"cannot hand checkout back to the monolith: {exc}") from None
    if ownership.status(dbs).owner == "monolith":
        return
    note = "catalog writes were left with the catalog service (step 4); the facade starts"
    console.print(f"» {note} at step 1: switching them back to the monolith")
    try:
        ownership.switch(dbs, "monolith", timeout=60)
    except ownership.SwitchFailed as exc:
        raise StackError(f"cannot hand catalog writes back to the monolith: {exc}") from None


# -- observability: only what runs without Docker -----------------------------------------


def scrape_targets(config: StackConfig) -> dict[str, str]:
    """Prometheus job -> host:port of every local component that serves /metrics. The
    job names are the compose service names, so one dashboard reads both stacks."""
    targets = {
        "facade": f"127.0.0.1:{config.facade_port}",
        "monolith": f"127.0.0.1:{config.monolith_port}",
    }
    if has_module("catalog_service"):
        targets["catalog"] = f"127.0.0.1:{config.catalog_port}"
        targets["relay"] = f"127.0.0.1:{config.relay_metrics_port}"
        for lane in range(config.catalog_sync_lanes):
            job = "sync" if lane == 0 else f"sync-{lane}"  # the compose service's name
            targets[job] = f"127.0.0.1:{config.sync_metrics_port + lane}"
    if has_module("orders_service"):
        targets["orders"] = f"127.0.0.1:{config.orders_port}"
    return targets


def prometheus_config(config: StackConfig) -> str:
    jobs = [
        {"job_name": job, "static_configs": [{"targets": [target]}]}
        for job, target in scrape_targets(config).items()
    ]
    document = {"global": {"scrape_interval": "5s"}, "scrape_configs": jobs}
    return yaml.safe_dump(document, sort_keys=False)


NO_OBSERVABILITY = (
    "» Prometheus, Jaeger and Grafana are not started locally (no `prometheus` on PATH); "
    "`docker compose up --build` brings all three with the Migration dashboard"
)


def observability(config: StackConfig, *, console: Console) -> list[Component]:
    """A local Prometheus scraping the stack when the binary is installed (e.g. Debian's
    ``prometheus`` package); Jaeger and Grafana only come with docker compose."""
    binary = shutil.which("prometheus")
    if binary is None:
        console.print(f"[dim]{NO_OBSERVABILITY}[/]")
        return []
    if not port_is_free(config.prometheus_port):
        # Debian's package also runs one as a system service on the default port.
        console.print(
            f"[yellow]» not starting Prometheus: port {config.prometheus_port} is taken "
            "(choose another with PROMETHEUS_PORT)[/]"
        )
        return []
    home = config.state_dir / "prometheus"
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "prometheus.yml"
    config_file.write_text(prometheus_config(config))
    console.print(
        "[dim]» Jaeger and Grafana are not started locally; `docker compose up --build` "
        "brings them[/]"
    )
    return [
        Component(
            name="prometheus",
            command=[
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{config.prometheus_port}",
            ],
            ready_url=f"{config.prometheus_url}/-/ready",
            public_urls={"prometheus": f"{config.prometheus_url}/graph"},
        )
    ]


def probes(config: StackConfig) -> list[Probe]:
    checks = [
        Probe("monolith ready", f"{config.monolith_url}/readyz"),
        Probe("monolith storefront", f"{config.monolith_url}/", "<html"),
        Probe("monolith API", f"{config.monolith_url}/api/products/", '"results"'),
    ]
    if has_module("catalog_service"):
        checks += [
            Probe("catalog ready", f"{config.catalog_url}/readyz"),
            Probe("catalog API", f"{config.catalog_url}/api/products/", '"results"'),
        ]
    if has_module("orders_service"):
        checks += [Probe("orders ready", f"{config.orders_url}/readyz")]
    if has_module("facade.app"):
        base = config.facade_url
        checks += [
            Probe("facade ready", f"{base}/readyz"),
            Probe("storefront via facade", f"{base}/", "<html"),
            Probe("product list via facade", f"{base}/api/products/", '"results"'),
            Probe("categories via facade", f"{base}/api/categories/", '"slug"'),
            Probe("admin login via facade", f"{base}/admin/login/", "csrfmiddlewaretoken"),
            Probe("facade metrics", f"{base}/metrics", "# TYPE"),
        ]
    return checks


@dataclass(frozen=True)
class SyncResult:
    product_id: int
    price: str
    latency_ms: float


def sync_check(config: StackConfig, *, timeout: float = 15.0) -> SyncResult:
    """Change a price through the monolith's services; wait (bounded) until the catalog
    service shows it. Returns the commit-to-visible latency."""
    with httpx.Client(timeout=5.0) as client:
        listing = client.get(f"{config.catalog_url}/api/products/", params={"page_size": 1})
        listing.raise_for_status()
        first = listing.json()["results"][0]
        product_id = int(first["id"])
        old = Decimal(str(first["price"]))
        new = old + Decimal("0.01") if old < Decimal("99999") else old - Decimal("0.01")
        changed = subprocess.run(
            [*MANAGE, "catalog_set_price", str(product_id), f"{new:.2f}"],
            cwd=MONOLITH_DIR, env=config.component_env(), capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if changed.returncode != 0:
            raise StackError(f"catalog_set_price failed: {changed.stderr[-2000:]}")
        committed_at = float(json.loads(changed.stdout.strip().splitlines()[-1])["committed_at"])
        deadline = time.monotonic() + timeout
        url = f"{config.catalog_url}/api/products/{product_id}/"
        while time.monotonic() < deadline:
            response = client.get(url)
            if response.status_code == 200 and Decimal(str(response.json()["price"])) == new:
                return SyncResult(product_id, f"{new:.2f}", (time.time() - committed_at) * 1000)
            time.sleep(0.01)  # polling a condition with a deadline
    raise StackError(
        f"the catalog service did not show product {product_id} at {new:.2f} within {timeout}s"
    )
