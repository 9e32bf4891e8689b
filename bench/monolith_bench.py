"""Baseline: the monolith's product list and detail endpoints under gunicorn.

    make bench-monolith [ARGS="--products 10000 --duration 10 --connections 32"]

Seeds a fresh shop database (embedded PostgreSQL unless DATABASE_URL is set), starts
gunicorn as the runner does, and drives it with wrk. The printed lines are the baseline
later benchmarks put side by side (see bench/common.py).
"""

from __future__ import annotations

import argparse
import os

from common import (
    GUNICORN,
    MONOLITH,
    Result,
    bench_postgres,
    ensure_debian_tools,
    free_port,
    paths_script,
    process,
    run_wrk,
    seed_monolith,
    wait_http,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()

    ensure_debian_tools("wrk")
    with bench_postgres("shop") as urls:
        db_url = urls["shop"]
        env = {**os.environ, "DATABASE_URL": db_url, "SHOP_ENV": "local", "DEBUG": "0"}
        ids = seed_monolith(env, args.products)
        port = free_port()
        gunicorn_env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(args.workers)}
        with process(GUNICORN, env=gunicorn_env, cwd=MONOLITH):
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/readyz")
            results: list[Result] = [
                run_wrk(
                    "monolith product list",
                    f"{base}/api/products/",
                    duration=args.duration,
                    connections=args.connections,
                ),
                run_wrk(
                    "monolith product detail",
                    base,
                    duration=args.duration,
                    connections=args.connections,
                    script=paths_script([f"/api/products/{i}/" for i in ids]),
                ),
            ]
    print(
        f"\nmonolith under gunicorn ({args.workers} workers), {args.products} products, "
        f"wrk {args.connections} connections x {args.duration}s"
    )
    for result in results:
        print(result.line())


if __name__ == "__main__":
    main()
