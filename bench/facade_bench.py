"""Benchmark the facade against nginx on one machine: `make bench-facade [ARGS=--soak]`.

Same static upstream (nginx serving a small JSON body, 1 worker), same load generator and
the same wrk settings for every target (wrk -t1 -c64 -d10s, ``--latency``):

  direct   wrk -> upstream
  nginx    wrk -> nginx proxy_pass (1 worker, upstream keepalive) -> upstream
  facade   wrk -> facade (1 process, uvloop; route table, metrics, breaker, bulkhead,
           request id, traceparent, access log all on) -> upstream, once per front-end
           (``facade.server``, uvicorn's httptools protocol) and hot-path client
           (native httptools pool; aiohttp with ``--clients native,aiohttp``).

Method, because the machine is small and shared:
- Pinning (``taskset``, on by default with 2+ CPUs): the proxy under test (the nginx
  proxy's master and worker, or the facade) runs alone on CPU 0; wrk and the upstream
  share CPU 1. Every target gets the same core and the same neighbours, so nginx and the
  facade are compared like for like, and neither competes with its own load generator.
  ``--no-pin`` runs everything unpinned.
- Repetitions: ``--rounds`` (default 3) rounds; each round measures every target back
  to back, so background load hits them alike. Each figure printed is the median over
  the rounds (requests/s, p50, p99 taken separately); the ratio is the median of the
  per-round facade/nginx ratios. A 2 s (3 s for the facade) warm-up precedes each target
  once.

Added latency at 1,000 req/s: wrk2 is not packaged, so wrk runs 10 connections, each
pausing 10 ms after every response (a Lua ``delay()``), which paces the load to just
under 1,000 req/s; wrk times each request from its write, so pauses are not counted.
Added p99 = median p99(through proxy) - median p99(direct) at that pace, pinned as above.

The last line is ``facade/nginx throughput ratio: X.XX`` (the best facade variant).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BODY = '{"id": 1, "name": "Espresso cup", "price": "7.50", "currency": "EUR", "in_stock": true}'

NGINX_UPSTREAM = """
worker_processes 1;
daemon off;
pid {dir}/upstream.pid;
error_log {dir}/upstream-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""

NGINX_PROXY = """
worker_processes 1;
daemon off;
pid {dir}/proxy.pid;
error_log {dir}/proxy-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    upstream backend {{
        server 127.0.0.1:{upstream_port};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""

ROUTES = """
upstreams:
  monolith:
    instances: http://127.0.0.1:{port}
    max_concurrent: 1000
    breaker: {{failure_threshold: 5, reset_timeout: 10}}
  catalog:
    instances: http://127.0.0.1:{dead_port}
routes:
  - id: catalog-products
    path: /api/products/**
    upstream: catalog
    mode: monolith
  - id: catalog-categories
    path: /api/categories/**
    upstream: catalog
    mode: monolith
  - id: cart
    path: /cart/{{item}}/
    methods: [GET, POST]
    upstream: monolith
  - id: default
    path: /**
    upstream: monolith
"""

PACED_LUA = "function delay()\n  return 10\nend\n"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def log(msg: str) -> None:
    print(msg, flush=True)


def ensure_tools() -> None:
    missing = [tool for tool in ("nginx", "wrk") if not _which(tool)]
    if not missing:
        return
    log(f"installing {' '.join(missing)} with: apt-get install -y nginx wrk")
    cmd = ["apt-get", "install", "-y", "nginx", "wrk"]
    if subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        log("install failed; running apt-get update, then retrying the install")
        subprocess.run(["apt-get", "update"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)


def _which(tool: str) -> str | None:
    return shutil.which(tool) or (
        f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None
    )


PROXY_CPU = "0"
LOAD_CPU = "1"
_pin = True


def pinned(cmd: list[str], cpu: str) -> list[str]:
    """``cmd`` confined to ``cpu`` with taskset (unless pinning is off)."""
    return ["taskset", "-c", cpu, *cmd] if _pin else cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                resp.read()
                return
        except Exception as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


def start_nginx(conf: str, workdir: Path, name: str, cpu: str) -> subprocess.Popen[bytes]:
    path = workdir / f"{name}.conf"
    path.write_text(conf)
    nginx = _which("nginx")
    assert nginx
    cmd = [nginx, "-c", str(path), "-p", str(workdir), "-e", str(workdir / f"{name}-error.log")]
    return subprocess.Popen(
        pinned(cmd, cpu),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_facade(
    workdir: Path, upstream_port: int, client: str, server: str = "native"
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    routes = workdir / "routes.yaml"
    routes.write_text(ROUTES.format(port=upstream_port, dead_port=free_port()))
    env = {
        **os.environ,
        "FACADE_ROUTES_FILE": str(routes),
        "FACADE_HTTP_CLIENT": client,
        "FACADE_SERVER": server,
        "FACADE_ADMIN_TOKEN": "bench",
        "FACADE_PORT": str(port),
        "FACADE_HOST": "127.0.0.1",
        "FACADE_ACCESS_LOG": "true",
        "FACADE_AUDIT_LOG_FILE": str(workdir / "audit.jsonl"),
    }
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        pinned([sys.executable, "-m", "facade"], PROXY_CPU),
        env=env,
        stdout=subprocess.DEVNULL,  # JSON access logs: written, then discarded
        stderr=open(workdir / f"facade-{server}-{client}.err", "wb"),  # noqa: SIM115
    )
    return proc, port


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> Result:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd = pinned([*cmd, url], LOAD_CPU)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _latency(out, "50%")
    p99 = _latency(out, "99%")
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return Result(url, rps, p50, p99, errors)


def _latency(out: str, pct: str) -> float:
    m = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if m is None:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def median(results: list[Result]) -> Result:
    """Requests/s, p50 and p99 each the median over the rounds; errors summed."""
    return Result(
        results[0].name,
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


def fmt(r: Result, label: str) -> str:
    err = f"  errors {r.errors}" if r.errors else ""
    return (
        f"{label:<42} {r.rps:>10,.0f} req/s   p50 {r.p50_ms:7.2f} ms   p99 {r.p99_ms:7.2f} ms{err}"
    )


def main() -> int:
    global _pin
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="repetitions; medians reported")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--soak", action="store_true", help="5 minutes of load, RSS every 10 s")
    parser.add_argument("--soak-seconds", type=int, default=300)
    parser.add_argument(
        "--servers", default="native,uvicorn", help="facade front-ends to try (FACADE_SERVER)"
    )
    parser.add_argument(
        "--clients", default="native", help="facade hot-path clients to try (native,aiohttp)"
    )
    args = parser.parse_args()
    _pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None

    ensure_tools()
    workdir = Path(tempfile.mkdtemp(prefix="facade-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up_port = free_port()
        procs.append(
            start_nginx(
                NGINX_UPSTREAM.format(dir=workdir, port=up_port, body=BODY),
                workdir,
                "upstream",
                LOAD_CPU,
            )
        )
        wait_http(f"http://127.0.0.1:{up_port}/")
        px_port = free_port()
        procs.append(
            start_nginx(
                NGINX_PROXY.format(dir=workdir, port=px_port, upstream_port=up_port),
                workdir,
                "proxy",
                PROXY_CPU,
            ),
        )
        wait_http(f"http://127.0.0.1:{px_port}/")
        paced = workdir / "paced.lua"
        paced.write_text(PACED_LUA)
        path = "/api/products/42/"
        d, c = args.duration, args.connections
        pin = (
            f"pinned: proxy under test on CPU {PROXY_CPU}, wrk + upstream on CPU {LOAD_CPU}"
            if _pin
            else "unpinned"
        )
        log(
            f"cpus {os.cpu_count()}, wrk -t1 -c{c} -d{d}s, {args.rounds} rounds (medians), "
            f"{pin}; upstream: nginx 1 worker, {len(BODY)}-byte JSON"
        )

        if args.soak:
            return soak(
                workdir,
                up_port,
                path,
                args.soak_seconds,
                c,
                args.clients.split(",")[0],
                args.servers.split(",")[0],
            )

        targets: dict[str, str] = {
            "direct": f"http://127.0.0.1:{up_port}{path}",
            "nginx proxy_pass": f"http://127.0.0.1:{px_port}{path}",
        }
        facades: dict[str, subprocess.Popen[bytes]] = {}
        for server in args.servers.split(","):
            for client in args.clients.split(","):
                proc, port = start_facade(workdir, up_port, client, server)
                procs.append(proc)
                name = f"facade ({server} server, {client} client)"
                facades[name] = proc
                targets[name] = f"http://127.0.0.1:{port}{path}"
                wait_http(f"http://127.0.0.1:{port}/healthz")

        for name, url in targets.items():  # warm-up: connections, pools, caches
            wrk(url, 3 if name in facades else 2, c)
        runs: dict[str, list[Result]] = {name: [] for name in targets}
        paced_runs: dict[str, list[Result]] = {name: [] for name in targets}
        for round_no in range(1, args.rounds + 1):
            for name, url in targets.items():
                runs[name].append(wrk(url, d, c))
            line = ", ".join(f"{k} {v[-1].rps:,.0f}" for k, v in runs.items())
            log(f"round {round_no}: {line} req/s")
        for _ in range(args.rounds):
            for name, url in targets.items():
                paced_runs[name].append(wrk(url, d, 10, paced))

        log("")
        log(f"throughput (wrk -c{c}, median of {args.rounds}):")
        result = {name: median(rs) for name, rs in runs.items()}
        peaks = {name: rss_kb(proc.pid, "VmHWM") for name, proc in facades.items()}
        for name, r in result.items():
            extra = f"   peak RSS {peaks[name] / 1024:.1f} MB" if name in peaks else ""
            log(fmt(r, name) + extra)
        log("")
        log(
            f"paced load (~1,000 req/s: wrk -c10, 10 ms pause per response, median of "
            f"{args.rounds}):"
        )
        paced_result = {name: median(rs) for name, rs in paced_runs.items()}
        for name, r in paced_result.items():
            log(fmt(r, "  " + name))

        nginx_runs = runs["nginx proxy_pass"]
        ratios = {
            name: statistics.median(
                f.rps / n.rps for f, n in zip(runs[name], nginx_runs, strict=True)
            )
            for name in facades
        }
        best = max(ratios, key=lambda k: ratios[k])
        direct_p99 = paced_result["direct"].p99_ms
        log("")
        for name in facades:
            added = paced_result[name].p99_ms - direct_p99
            log(f"{name}: ratio {ratios[name]:.2f}, p99 added at ~1k req/s {added:.2f} ms")
        log(f"fastest facade variant by measurement: {best}")
        added = paced_result[best].p99_ms - direct_p99
        nginx_added = paced_result["nginx proxy_pass"].p99_ms - direct_p99
        log(
            f"facade p99 added latency at ~{paced_result[best].rps:,.0f} req/s: {added:.2f} ms "
            f"(bar < 2 ms; nginx adds {nginx_added:.2f} ms)"
        )
        log(f"facade peak RSS: {peaks[best] / 1024:.1f} MB (bar < 150 MB)")
        log(f"facade/nginx throughput ratio: {ratios[best]:.2f}")
        return 0
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def soak(
    workdir: Path, up_port: int, path: str, seconds: int, conns: int, client: str, server: str
) -> int:
    proc, port = start_facade(workdir, up_port, client, server)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        wait_http(f"http://127.0.0.1:{port}/healthz")
        load = subprocess.Popen(
            pinned(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url], LOAD_CPU),
            stdout=subprocess.PIPE,
            text=True,
        )
        samples: list[tuple[int, float]] = []
        started = time.monotonic()
        while load.poll() is None:
            elapsed = int(time.monotonic() - started)
            mb = rss_kb(proc.pid, "VmRSS") / 1024
            samples.append((elapsed, mb))
            log(f"t={elapsed:>4}s  RSS {mb:6.1f} MB")
            deadline = started + len(samples) * 10
            while load.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        out = load.stdout.read() if load.stdout else ""
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        settled = [mb for t, mb in samples if t >= 30] or [mb for _, mb in samples]
        growth = settled[-1] - settled[0]
        flat = growth < max(5.0, 0.05 * settled[0])
        log(f"series (MB): {', '.join(f'{mb:.1f}' for _, mb in samples)}")
        log(
            f"soak: {float(rps.group(1)) if rps else 0:,.0f} req/s over {seconds}s; "
            f"RSS after warm-up {settled[0]:.1f} -> {settled[-1]:.1f} MB ({growth:+.1f} MB): "
            f"{'flat' if flat else 'GROWING'}"
        )
        log(f"facade peak RSS: {rss_kb(proc.pid, 'VmHWM') / 1024:.1f} MB")
        return 0 if flat else 1
    finally:
        stop(proc)


if __name__ == "__main__":
    sys.exit(main())
