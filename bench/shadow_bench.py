"""Does shadowing cost the client anything? ``make bench-shadow [ARGS="--rounds 4"]``

A catalog read (``GET /api/products/<id>/``) through the facade; the primary is the real
monolith under gunicorn (seeded database, embedded PostgreSQL unless DATABASE_URL is set).
The same facade process serves every round, with the route toggled through the admin API:

  monolith   the route in monolith mode: the monolith answers, nothing else happens
  shadow     the route in shadow mode, 100 %: the monolith answers, and every request is
             copied to the candidate, compared (JSON-aware, noise sampling on) and recorded

The candidate is a small uvicorn app serving the monolith's own answer with one field
changed (so every comparison walks the document and records a diff). It stands in for
the catalog service: the question is the facade's cost, not the candidate's.

Method (2 shared CPUs): the facade is pinned alone to CPU 0 with taskset, gunicorn, the
candidate and wrk share CPU 1 (``--no-pin`` turns that off). Paced load, not saturation:
wrk with ``--connections`` connections, each pausing 10 ms after every response, so what
is measured is latency at a steady rate. Rounds interleave the two modes (the order
alternates per round), so background load hits both alike; figures are medians over the
rounds. The last line is ``shadow/no-shadow p50 ratio: X.XX`` (median p50 shadow /
median p50 monolith mode); the bar is 1.10.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from common import (
    GUNICORN,
    MONOLITH,
    Result,
    bench_postgres,
    ensure_debian_tools,
    free_port,
    process,
    run_wrk,
    seed_monolith,
    wait_http,
)

TOKEN = "bench"
ROUTES = """
upstreams:
  monolith:
    instances: http://127.0.0.1:{monolith}
  catalog:
    instances: http://127.0.0.1:{candidate}
routes:
  - id: catalog-products
    path: /api/products/**
    upstream: catalog
    mode: monolith
    compare:
      headers: [content-type]
      normalisers: [decimal, url-trailing-slash]
      noise_sample_rate: 0.05
  - id: default
    path: /**
    upstream: monolith
"""

CANDIDATE = """
import json, sys
import uvicorn

BODY = open(sys.argv[2], "rb").read()

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["path"] == "/readyz":
        body = b'{"status": "ready"}'
    else:
        body = BODY
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error",
            access_log=False, loop="uvloop", http="httptools")
"""

PACED = """function delay()
  return 10
end
request = function()
  return wrk.format("GET", "{path}")
end
"""


def log(message: str) -> None:
    print(message, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    args = parser.parse_args()

    ensure_debian_tools("wrk")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None

    def on(cpu: str, cmd: list[str]) -> list[str]:
        return ["taskset", "-c", cpu, *cmd] if pin else cmd

    workdir = Path(tempfile.mkdtemp(prefix="shadow-bench-"))
    with bench_postgres("shop") as urls:
        env = {**os.environ, "DATABASE_URL": urls["shop"], "SHOP_ENV": "local", "DEBUG": "0"}
        env.pop("REDIS_URL", None)  # one facade: parity in memory
        ids = seed_monolith(env, args.products)
        product = ids[min(41, len(ids) - 1)]
        path = f"/api/products/{product}/"
        mono_port, cand_port, facade_port = free_port(), free_port(), free_port()
        gunicorn_env = {**env, "PORT": str(mono_port), "WEB_CONCURRENCY": str(args.workers)}
        with process(on("1", GUNICORN), env=gunicorn_env, cwd=MONOLITH):
            wait_http(f"http://127.0.0.1:{mono_port}/readyz")
            doc = httpx.get(f"http://127.0.0.1:{mono_port}{path}").json()
            doc["price"] = str(round(float(doc["price"]) + 0.01, 2))  # a real difference
            body = workdir / "candidate.json"
            body.write_text(json.dumps(doc))
            script = workdir / "candidate.py"
            script.write_text(CANDIDATE)
            candidate = on("1", [sys.executable, str(script), str(cand_port), str(body)])
            routes = workdir / "routes.yaml"
            routes.write_text(ROUTES.format(monolith=mono_port, candidate=cand_port))
            facade_env = {
                **env,
                "FACADE_ROUTES_FILE": str(routes),
                "FACADE_ADMIN_TOKEN": TOKEN,
                "FACADE_PORT": str(facade_port),
                "FACADE_HOST": "127.0.0.1",
                "FACADE_AUDIT_LOG_FILE": str(workdir / "audit.jsonl"),
            }
            facade = on("0", [sys.executable, "-m", "facade"])
            with process(candidate, env=env), process(facade, env=facade_env):
                base = f"http://127.0.0.1:{facade_port}"
                wait_http(f"http://127.0.0.1:{cand_port}/readyz")
                wait_http(f"{base}/readyz")
                results = measure(base, path, args, workdir)
                parity = httpx.get(
                    f"{base}/_strangler/api/parity/catalog-products",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                ).json()
    report(results, parity, args, pin, product)
    return 0


def set_mode(base: str, mode: str) -> None:
    resp = httpx.put(
        f"{base}/_strangler/api/routes/catalog-products",
        json={"mode": mode},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    resp.raise_for_status()


def measure(
    base: str, path: str, args: argparse.Namespace, workdir: Path
) -> dict[str, list[Result]]:
    lua = PACED.replace("{path}", path)
    results: dict[str, list[Result]] = {"monolith": [], "shadow": []}
    for mode in ("monolith", "shadow"):  # warm-up: connections, Django, the comparator
        set_mode(base, mode)
        run_wrk(f"warm-up {mode}", base, duration=3, connections=args.connections, threads=1,
                script=lua)  # fmt: skip
    for r in range(args.rounds):
        order = ("monolith", "shadow") if r % 2 == 0 else ("shadow", "monolith")
        line = []
        for mode in order:
            set_mode(base, mode)
            res = run_wrk(
                mode, base, duration=args.duration, connections=args.connections, threads=1,
                script=lua,
            )  # fmt: skip
            results[mode].append(res)
            errors = f", errors {res.errors}" if res.errors else ""
            line.append(
                f"{mode} p50 {res.p50_ms:.2f} ms p99 {res.p99_ms:.2f} ms "
                f"({res.rps:.0f} req/s{errors})"
            )
        log(f"round {r + 1}: " + "; ".join(line))
    return results


def report(
    results: dict[str, list[Result]],
    parity: dict[str, object],
    args: argparse.Namespace,
    pin: bool,
    product: int,
) -> None:
    medians = {
        mode: Result(
            f"facade, route in {mode} mode",
            statistics.median(r.rps for r in rs),
            statistics.median(r.p50_ms for r in rs),
            statistics.median(r.p99_ms for r in rs),
            sum(r.errors for r in rs),
        )
        for mode, rs in results.items()
    }
    placement = (
        "facade pinned to CPU 0; gunicorn, candidate and wrk on CPU 1" if pin else "unpinned"
    )
    log(
        f"\ncpus {os.cpu_count()}, {placement}; GET /api/products/{product}/, monolith under "
        f"gunicorn ({args.workers} workers) as primary; wrk -t1 -c{args.connections}, 10 ms "
        f"pause per response, {args.duration}s x {args.rounds} interleaved rounds (medians)"
    )
    for result in medians.values():
        log(result.line())
    log(
        f"shadow copies: compared {parity.get('compared')}, mismatched "
        f"{parity.get('mismatched')}, dropped {parity.get('dropped')}, candidate errors "
        f"{parity.get('candidate_errors')}"
    )
    p99_ratio = medians["shadow"].p99_ms / medians["monolith"].p99_ms
    log(f"shadow/no-shadow p99 ratio: {p99_ratio:.2f}")
    ratio = medians["shadow"].p50_ms / medians["monolith"].p50_ms
    log(f"shadow/no-shadow p50 ratio: {ratio:.2f}")


if __name__ == "__main__":
    sys.exit(main())
