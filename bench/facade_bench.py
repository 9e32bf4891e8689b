"""Benchmark the facade against nginx on one machine: `make bench-facade [ARGS=--soak]`.

Same static upstream (nginx serving a small JSON body, 1 worker), same load generator
(wrk, 1 thread, fixed connections and duration), one run each:

  direct   wrk -> upstream
  nginx    wrk -> nginx proxy_pass (1 worker, upstream keepalive) -> upstream
  facade   wrk -> facade (1 uvicorn worker, uvloop + httptools; route table, metrics,
           breaker, bulkhead, request id, traceparent, access log all on) -> upstream,
           once per hot-path client (native httptools pool, aiohttp); the faster one wins.

Added latency at 1,000 req/s: wrk2 is not packaged, so wrk runs 10 connections, each
pausing 10 ms after every response (a Lua ``delay()``), which paces the load to just
under 1,000 req/s; wrk times each request from its write, so pauses are not counted.
Added p99 = p99(through proxy) - p99(direct) at that pace.

The last line is ``facade/nginx throughput ratio: X.XX``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
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


def start_nginx(conf: str, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    path = workdir / f"{name}.conf"
    path.write_text(conf)
    nginx = _which("nginx")
    assert nginx
    return subprocess.Popen(
        [nginx, "-c", str(path), "-p", str(workdir), "-e", str(workdir / f"{name}-error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_facade(
    workdir: Path, upstream_port: int, client: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    routes = workdir / "routes.yaml"
    routes.write_text(ROUTES.format(port=upstream_port, dead_port=free_port()))
    env = {
        **os.environ,
        "FACADE_ROUTES_FILE": str(routes),
        "FACADE_HTTP_CLIENT": client,
        "FACADE_ADMIN_TOKEN": "bench",
        "FACADE_PORT": str(port),
        "FACADE_HOST": "127.0.0.1",
        "FACADE_ACCESS_LOG": "true",
        "FACADE_AUDIT_LOG_FILE": str(workdir / "audit.jsonl"),
    }
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "facade"],
        env=env,
        stdout=subprocess.DEVNULL,  # JSON access logs: written, then discarded
        stderr=open(workdir / f"facade-{client}.err", "wb"),  # noqa: SIM115
    )
    return proc, port


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> Result:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
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


def fmt(r: Result, label: str) -> str:
    err = f"  errors {r.errors}" if r.errors else ""
    return (
        f"{label:<22} {r.rps:>10,.0f} req/s   p50 {r.p50_ms:7.2f} ms   p99 {r.p99_ms:7.2f} ms{err}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per throughput run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--soak", action="store_true", help="5 minutes of load, RSS every 10 s")
    parser.add_argument("--soak-seconds", type=int, default=300)
    parser.add_argument(
        "--clients", default="native,aiohttp", help="facade hot-path clients to try"
    )
    args = parser.parse_args()

    ensure_tools()
    workdir = Path(tempfile.mkdtemp(prefix="facade-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up_port = free_port()
        procs.append(
            start_nginx(
                NGINX_UPSTREAM.format(dir=workdir, port=up_port, body=BODY), workdir, "upstream"
            )
        )
        wait_http(f"http://127.0.0.1:{up_port}/")
        px_port = free_port()
        procs.append(
            start_nginx(
                NGINX_PROXY.format(dir=workdir, port=px_port, upstream_port=up_port),
                workdir,
                "proxy",
            ),
        )
        wait_http(f"http://127.0.0.1:{px_port}/")
        paced = workdir / "paced.lua"
        paced.write_text(PACED_LUA)
        path = "/api/products/42/"
        d, c = args.duration, args.connections
        log(
            f"cpus {os.cpu_count()}, wrk -t1 -c{c} -d{d}s, "
            f"upstream: nginx 1 worker, {len(BODY)}-byte JSON"
        )

        if args.soak:
            return soak(workdir, up_port, path, args.soak_seconds, c, args.clients.split(",")[0])

        wrk(f"http://127.0.0.1:{up_port}{path}", 2, c)
        direct = wrk(f"http://127.0.0.1:{up_port}{path}", d, c)
        log(fmt(direct, "direct"))
        wrk(f"http://127.0.0.1:{px_port}{path}", 2, c)
        nginx = wrk(f"http://127.0.0.1:{px_port}{path}", d, c)
        log(fmt(nginx, "nginx proxy_pass"))

        facades: dict[str, tuple[Result, Result, int]] = {}
        for client in args.clients.split(","):
            proc, port = start_facade(workdir, up_port, client)
            try:
                url = f"http://127.0.0.1:{port}{path}"
                wait_http(f"http://127.0.0.1:{port}/healthz")
                wrk(url, 3, c)  # warm-up
                res = wrk(url, d, c)
                paced_res = wrk(url, d, 10, paced)
                peak = rss_kb(proc.pid, "VmHWM")
                facades[client] = (res, paced_res, peak)
                log(fmt(res, f"facade ({client})") + f"   peak RSS {peak / 1024:.1f} MB")
            finally:
                stop(proc)

        direct_paced = wrk(f"http://127.0.0.1:{up_port}{path}", d, 10, paced)
        nginx_paced = wrk(f"http://127.0.0.1:{px_port}{path}", d, 10, paced)
        best = max(facades, key=lambda k: facades[k][0].rps)
        res, paced_res, peak = facades[best]
        log("")
        log(f"paced load (~1,000 req/s: wrk -c10, 10 ms pause per response, {d}s):")
        log(fmt(direct_paced, "  direct"))
        log(fmt(nginx_paced, "  nginx proxy_pass"))
        for client, (_, pr, _) in facades.items():
            log(fmt(pr, f"  facade ({client})"))
        added = paced_res.p99_ms - direct_paced.p99_ms
        log("")
        others = ", ".join(f"{k} {v[0].rps:,.0f} req/s" for k, v in facades.items())
        log(f"hot-path client chosen by measurement: {best} ({others})")
        log(f"facade p99 added latency at ~{paced_res.rps:,.0f} req/s: {added:.2f} ms (bar < 2 ms)")
        log(f"facade peak RSS: {peak / 1024:.1f} MB (bar < 150 MB)")
        log(f"facade/nginx throughput ratio: {res.rps / nginx.rps:.2f}")
        return 0
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def soak(workdir: Path, up_port: int, path: str, seconds: int, conns: int, client: str) -> int:
    proc, port = start_facade(workdir, up_port, client)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        wait_http(f"http://127.0.0.1:{port}/healthz")
        load = subprocess.Popen(
            ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url],
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
