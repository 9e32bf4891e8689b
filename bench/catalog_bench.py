"""The catalog service against the monolith: same requests, same data, same PostgreSQL.

    make bench-catalog [ARGS="--products 10000 --duration 10 --connections 32 --workers 2"]

Seeds the monolith's database, backfills the catalog service's database from it through
the ACL, then runs the same wrk load against the monolith (gunicorn, gthread) and the
service (uvicorn), both with the same number of worker processes. The last line is
`catalog/monolith throughput ratio: X.XX` (geometric mean over list and detail).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys

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
    parser.add_argument("--workers", type=int, default=2, help="worker processes on each side")
    args = parser.parse_args()

    ensure_debian_tools("wrk")
    with bench_postgres("shop", "catalog") as urls:
        shop_url, catalog_url = urls["shop"], urls["catalog"]
        env = {**os.environ, "DATABASE_URL": shop_url, "SHOP_ENV": "local", "DEBUG": "0"}
        env["CATALOG_DATABASE_URL"] = catalog_url
        service = [sys.executable, "-m", "catalog_service"]
        run = {"env": env, "check": True}
        ids = seed_monolith(env, args.products)
        subprocess.run([*service, "migrate"], **run)  # type: ignore[call-overload]
        subprocess.run(  # type: ignore[call-overload]
            [*service, "backfill", "--source-url", shop_url, "--restart"], **run
        )

        detail = paths_script([f"/api/products/{i}/" for i in ids])
        mono_port, svc_port = free_port(), free_port()
        uvicorn = [*service, "serve", "--port", str(svc_port), "--workers", str(args.workers)]
        mono_env = {**env, "PORT": str(mono_port), "WEB_CONCURRENCY": str(args.workers)}
        results: dict[str, list[Result]] = {}
        with (
            process(GUNICORN, env=mono_env, cwd=MONOLITH),
            process(uvicorn, env=env),
        ):
            for side, port in (("monolith", mono_port), ("catalog", svc_port)):
                base = f"http://127.0.0.1:{port}"
                wait_http(f"{base}/readyz")
                wrk = {"duration": args.duration, "connections": args.connections}
                results[side] = [
                    run_wrk(f"{side} product list", f"{base}/api/products/", **wrk),  # type: ignore[arg-type]
                    run_wrk(f"{side} product detail", base, script=detail, **wrk),  # type: ignore[arg-type]
                ]

    print(
        f"\n{args.products} products, {args.workers} workers each side, "
        f"wrk {args.connections} connections x {args.duration}s"
    )
    for side in ("monolith", "catalog"):
        for result in results[side]:
            print(result.line())
    ratios = [c.rps / m.rps for c, m in zip(results["catalog"], results["monolith"], strict=True)]
    print(f"list ratio {ratios[0]:.2f}, detail ratio {ratios[1]:.2f}")
    print(f"catalog/monolith throughput ratio: {math.sqrt(ratios[0] * ratios[1]):.2f}")


if __name__ == "__main__":
    main()
