"""Checkouts per second: the orders service's saga against the monolith's checkout.

    make bench-checkout [ARGS="--checkouts 400 --concurrency 16 --workers 2 --rounds 2"]

Seeds the monolith's database (plenty of stock), starts the monolith (gunicorn) and the
orders service (uvicorn) with the same number of worker processes, fills one guest cart
per checkout, then sends the same checkouts to each side directly (no facade), the sides
alternating round by round. The monolith's checkout is one database transaction; the
saga reads the cart from the monolith, reserves the stock there, authorises, confirms,
clears the cart: three calls back to the monolith and four local transactions. The last
line is `checkout saga/monolith throughput ratio: X.XX` (medians over the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import httpx
import psycopg
from common import (
    GUNICORN,
    MONOLITH,
    Result,
    bench_postgres,
    free_port,
    process,
    seed_monolith,
    wait_http,
)

GUEST = {"email": "bench@example.com", "name": "Bench Mark", "line1": "Weg 1", "line2": "",
         "city": "Berlin", "zip": "10115", "country": "DE",
         "card_number": "4242424242424242"}  # fmt: skip


async def fill_carts(base: str, product_ids: list[int], count: int) -> list[httpx.Cookies]:
    """``count`` guest sessions, each with one product in its cart (made on the monolith)."""

    async def one(i: int, client: httpx.AsyncClient) -> httpx.Cookies:
        client.cookies.clear()
        item = {"product_id": product_ids[i % len(product_ids)], "quantity": 1}
        resp = await client.post(f"{base}/api/cart/items/", json=item)
        if resp.status_code != 201:
            raise RuntimeError(f"cart add answered {resp.status_code}: {resp.text[:200]}")
        return httpx.Cookies(client.cookies)

    carts: list[httpx.Cookies] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(count):  # one client, one session at a time: cookies stay apart
            carts.append(await one(i, client))
    return carts


async def checkouts(name: str, base: str, carts: list[httpx.Cookies], concurrency: int) -> Result:
    latencies: list[float] = []
    errors = 0
    queue = list(carts)

    async def worker() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while queue:
                cookies = queue.pop()
                started = time.perf_counter()
                resp = await client.post("/api/checkout/", json=GUEST, cookies=cookies)
                latencies.append((time.perf_counter() - started) * 1000)
                if resp.status_code != 201:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return Result(name, len(carts) / elapsed, cuts[49], cuts[98], errors)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--checkouts", type=int, default=400, help="per side and round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="worker processes on each side")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with bench_postgres("shop", "orders") as urls:
        env = {**os.environ, "DATABASE_URL": urls["shop"], "SHOP_ENV": "local", "DEBUG": "0"}
        env["ORDERS_DATABASE_URL"] = urls["orders"]
        ids = seed_monolith(env, args.products)
        with psycopg.connect(urls["shop"]) as conn:  # nobody runs out during the bench
            conn.execute("UPDATE shop_product SET qty = 10000000 WHERE st = 'A'")
        service = [sys.executable, "-m", "orders_service"]
        subprocess.run([*service, "migrate", "--database-url", urls["orders"]], env=env,
                       check=True)  # fmt: skip
        mono_port, svc_port = free_port(), free_port()
        monolith = f"http://127.0.0.1:{mono_port}"
        env["MONOLITH_URL"] = monolith
        uvicorn = [*service, "serve", "--port", str(svc_port), "--workers", str(args.workers)]
        mono_env = {**env, "PORT": str(mono_port), "WEB_CONCURRENCY": str(args.workers)}
        results: dict[str, list[Result]] = {"monolith": [], "saga": []}
        with process(GUNICORN, env=mono_env, cwd=MONOLITH), process(uvicorn, env=env):
            sides = {"monolith": monolith, "saga": f"http://127.0.0.1:{svc_port}"}
            for base in sides.values():
                wait_http(f"{base}/readyz")
            for round_no in range(args.rounds):
                for side, base in sides.items():
                    carts = asyncio.run(fill_carts(monolith, ids, args.checkouts))
                    result = asyncio.run(
                        checkouts(f"{side} checkout (round {round_no + 1})", base, carts,
                                  args.concurrency)
                    )  # fmt: skip
                    print(result.line(), flush=True)
                    results[side].append(result)

    print(
        f"\n{args.checkouts} checkouts per side and round, {args.rounds} rounds, "
        f"{args.concurrency} concurrent clients, {args.workers} workers each side"
    )
    median = {side: statistics.median(r.rps for r in rs) for side, rs in results.items()}
    for side, rs in results.items():
        p99 = statistics.median(r.p99_ms for r in rs)
        errors = sum(r.errors for r in rs)
        print(f"{side:<10} {median[side]:>8.1f} checkouts/s   p99 {p99:>8.1f} ms   errors {errors}")
    print(f"checkout saga/monolith throughput ratio: {median['saga'] / median['monolith']:.2f}")


if __name__ == "__main__":
    main()
