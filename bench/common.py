"""Shared pieces of the benchmarks: tools, servers, wrk runs and one output format.

Every benchmark prints one line per measured target in the same format, so later
benchmarks (the catalog service, the facade) can be compared side by side against the
monolith baseline measured in the same run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "strangler" / "src"))

from strangler.embedded import throwaway_servers  # noqa: E402

MONOLITH = REPO / "monolith"
# The monolith under gunicorn exactly as the local runner starts it.
GUNICORN = [
    sys.executable,
    "-m",
    "gunicorn",
    "-c",
    str(MONOLITH / "gunicorn.conf.py"),
    "shop.wsgi:application",
]


def seed_monolith(env: dict[str, str], products: int) -> list[int]:
    """Migrate and reseed the monolith's database; returns up to 2,000 active product ids."""
    manage = [sys.executable, str(MONOLITH / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
    subprocess.run(
        [*manage, "seed_shop", "--products", str(products), "--reset"], env=env, check=True
    )
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        query = "SELECT id FROM shop_product WHERE st = 'A' ORDER BY id LIMIT 2000"
        return [row[0] for row in conn.execute(query)]


def ensure_debian_tools(*tools: str) -> None:
    """Install wrk/nginx from Debian's packages when missing (benchmarks only)."""
    missing = [t for t in tools if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]
    if not missing:
        return
    print(f"» installing {' '.join(missing)} from Debian packages", flush=True)
    install = ["apt-get", "install", "-y", "-qq", *missing]
    if subprocess.run(install, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0

    def line(self) -> str:
        errors = f", errors {self.errors}" if self.errors else ""
        return (
            f"{self.name:<34} {self.rps:>9.1f} req/s   p50 {self.p50_ms:>7.2f} ms   "
            f"p99 {self.p99_ms:>7.2f} ms{errors}"
        )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip())
    if not match:
        raise ValueError(f"unparseable wrk latency {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    name: str,
    url: str,
    *,
    duration: int = 10,
    connections: int = 32,
    threads: int = 2,
    script: str | None = None,
) -> Result:
    """One wrk run with the latency distribution; bounded by ``duration`` seconds."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        if script:
            lua.write(script)
    if script:
        cmd += ["-s", lua.name]
    out = subprocess.run(
        [*cmd, url], check=True, capture_output=True, text=True, timeout=duration + 30
    ).stdout
    os.unlink(lua.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sock_errors:
        errors += sum(int(g) for g in sock_errors.groups())
    return Result(name, rps, p50, p99, errors)


def paths_script(paths: list[str]) -> str:
    """A wrk Lua script cycling through ``paths`` (e.g. product detail URLs)."""
    items = ",".join(f'"{p}"' for p in paths)
    return (
        f"local paths = {{{items}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\nend\n'
    )


@contextlib.contextmanager
def bench_postgres(*names: str) -> Iterator[dict[str, str]]:
    """Fresh databases ``bench_<name>`` for each name; returns name -> URL.

    On the server DATABASE_URL points at when it is set (never touching its own
    databases), else on a throwaway embedded PostgreSQL.
    """
    names = names or ("shop",)
    given = os.environ.get("DATABASE_URL")
    if given:
        server = given.rpartition("/")[0]
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "bench_{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "bench_{name}"')
        yield {name: f"{server}/bench_{name}" for name in names}
        return
    root = Path(tempfile.mkdtemp(prefix="strangler-bench-"))
    with throwaway_servers(root, databases=tuple(f"bench_{n}" for n in names)) as (pg, _redis):
        yield {name: pg.url_for(f"bench_{name}") for name in names}


@contextlib.contextmanager
def process(
    cmd: list[str], *, env: dict[str, str], cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
