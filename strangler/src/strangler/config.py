"""Where the local stack lives and how its parts find each other.

Everything comes from the environment (and an optional ``.env`` file at the repository
root, see ``.env.example``). When ``DATABASE_URL`` / ``REDIS_URL`` are unset the runner
starts embedded servers on fixed loopback ports with data under ``.state/``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

EMBEDDED_PG_PORT = 15432
EMBEDDED_REDIS_PORT = 16379
MONOLITH_PORT = 8000
FACADE_PORT = 8080
CATALOG_PORT = 8001
ORDERS_PORT = 8002
# The relay's /metrics (it serves no other HTTP) and the optional local Prometheus.
RELAY_METRICS_PORT = 9101
# The catalog sync worker's /metrics; lane N's worker serves on this port + N.
SYNC_METRICS_PORT = 9102
PROMETHEUS_PORT = 9090

# One database per component; the embedded server creates all of them.
DATABASES = ("shop", "catalog", "orders")


class ConfigError(ValueError):
    """A setting is malformed; the message names it and says what is expected."""


def load_dotenv(path: Path) -> dict[str, str]:
    """Parse a ``KEY=VALUE`` file (comments and blank lines allowed, no interpolation)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _port(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={raw!r} is out of range 1-65535")
    return port


def _lanes(env: dict[str, str]) -> int:
    raw = env.get("CATALOG_SYNC_LANES") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 32:
        raise ConfigError(f"CATALOG_SYNC_LANES={raw!r} must be a whole number from 1 to 32")
    return int(raw)


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    database_url: str | None  # None: start the embedded PostgreSQL
    redis_url: str | None  # None: start the embedded Redis
    pg_port: int
    redis_port: int
    monolith_port: int
    facade_port: int
    catalog_port: int
    orders_port: int
    relay_metrics_port: int
    sync_metrics_port: int
    prometheus_port: int
    admin_token: str
    catalog_sync_lanes: int
    base_env: dict[str, str]

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    def db_url(self, database: str = "shop") -> str:
        if self.database_url is None:
            return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"
        if database == "shop":
            return self.database_url
        # Same server, sibling database: swap the path of the given URL.
        head, _, _ = self.database_url.rpartition("/")
        return f"{head}/{database}"

    def cache_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    def broker_url(self) -> str:
        """The Celery broker of the sync (relay -> catalog consumer): OUTBOX_BROKER_URL,
        else the stack's Redis. ``amqp://`` (RabbitMQ) works too."""
        return self.base_env.get("OUTBOX_BROKER_URL") or self.cache_url()

    @property
    def facade_url(self) -> str:
        return f"http://127.0.0.1:{self.facade_port}"

    @property
    def monolith_url(self) -> str:
        return f"http://127.0.0.1:{self.monolith_port}"

    @property
    def catalog_url(self) -> str:
        return f"http://127.0.0.1:{self.catalog_port}"

    @property
    def orders_url(self) -> str:
        return f"http://127.0.0.1:{self.orders_port}"

    @property
    def relay_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.relay_metrics_port}/metrics"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    def component_env(self) -> dict[str, str]:
        """The environment every component process gets."""
        env = dict(self.base_env)
        env.update(
            {
                "DATABASE_URL": self.db_url("shop"),
                "CATALOG_DATABASE_URL": env.get("CATALOG_DATABASE_URL") or self.db_url("catalog"),
                "ORDERS_DATABASE_URL": env.get("ORDERS_DATABASE_URL") or self.db_url("orders"),
                "REDIS_URL": self.cache_url(),
                "SHOP_ENV": env.get("SHOP_ENV", "local"),
                "FACADE_ADMIN_TOKEN": self.admin_token,
                "MONOLITH_URL": env.get("MONOLITH_URL") or self.monolith_url,
                "CATALOG_URL": env.get("CATALOG_URL") or self.catalog_url,
                "ORDERS_URL": env.get("ORDERS_URL") or self.orders_url,
                # The monolith's storefront checkout calls the public API through it once
                # the orders service owns checkout (step 5).
                "FACADE_URL": env.get("FACADE_URL") or self.facade_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env


def _admin_token(env: dict[str, str], state_dir: Path) -> str:
    if env.get("FACADE_ADMIN_TOKEN"):
        return env["FACADE_ADMIN_TOKEN"]
    # Local runs get a random token kept in the state folder, so the CLI finds it.
    token_file = state_dir / "admin-token"
    if token_file.exists():
        return token_file.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token


def load_config(environ: dict[str, str] | None = None) -> StackConfig:
    env = dict(os.environ if environ is None else environ)
    for key, value in load_dotenv(REPO_ROOT / ".env").items():
        env.setdefault(key, value)
    state_dir = Path(env.get("STRANGLER_STATE_DIR") or REPO_ROOT / ".state")
    return StackConfig(
        state_dir=state_dir,
        database_url=env.get("DATABASE_URL") or None,
        redis_url=env.get("REDIS_URL") or None,
        pg_port=_port(env, "STRANGLER_PG_PORT", EMBEDDED_PG_PORT),
        redis_port=_port(env, "STRANGLER_REDIS_PORT", EMBEDDED_REDIS_PORT),
        monolith_port=_port(env, "MONOLITH_PORT", MONOLITH_PORT),
        facade_port=_port(env, "FACADE_PORT", FACADE_PORT),
        catalog_port=_port(env, "CATALOG_PORT", CATALOG_PORT),
        orders_port=_port(env, "ORDERS_PORT", ORDERS_PORT),
        relay_metrics_port=_port(env, "RELAY_METRICS_PORT", RELAY_METRICS_PORT),
        sync_metrics_port=_port(env, "CATALOG_SYNC_METRICS_PORT", SYNC_METRICS_PORT),
        prometheus_port=_port(env, "PROMETHEUS_PORT", PROMETHEUS_PORT),
        admin_token=_admin_token(env, state_dir),
        catalog_sync_lanes=_lanes(env),
        base_env=env,
    )
