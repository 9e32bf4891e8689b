"""Crash recovery: a process killed by the fault hook mid-saga, finished by saga-worker;
two workers never drive the same saga."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from typing import Any

import httpx
from orders_service.bootstrap import engine_for, saga_worker
from orders_service.settings import Settings
from sqlalchemy import Engine, text

from .conftest import PUBLIC_PEM
from .fakes import FakeMonolith, free_port, wait_until


def _serve(settings: Settings, crash_after: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "ORDERS_DATABASE_URL": settings.database_url,
        "ORDERS_MONOLITH_URL": settings.monolith_url,
        "ORDERS_CATALOG_URL": settings.catalog_url,
        "ORDERS_IDENTITY_PUBLIC_KEY": PUBLIC_PEM,
        "ORDERS_FAULT_CRASH_AFTER": crash_after,
        "ORDERS_SAGA_LEASE": "1",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "orders_service", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=30, what="the orders service subprocess")
    return proc, url


def _crash_then_recover(
    clean: Engine, monolith: FakeMonolith, settings: Settings, point: str
) -> dict[str, Any]:
    monolith.put_cart("s1", {1: 2})
    proc, url = _serve(settings, point)
    try:
        with contextlib.suppress(httpx.HTTPError):  # the process dies mid-request
            httpx.post(
                f"{url}/api/checkout/",
                headers={"Cookie": "sessionid=s1"},
                timeout=20,
                json={
                    "email": "a@x.de",
                    "name": "A",
                    "line1": "L",
                    "city": "C",
                    "zip": "1",
                    "country": "DE",
                    "card_number": "4242424242424242",
                },
            )
        assert proc.wait(timeout=20) == 70
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with clean.connect() as conn:
        state = conn.execute(text("SELECT state FROM sagas")).scalar_one()
    assert state == "running"
    short = settings.model_copy(update={"saga_lease": 1.0})
    engine = engine_for(settings.database_url)
    try:
        worker = saga_worker(short, engine, "worker:test")
        recovered: list[object] = []
        wait_until(
            lambda: recovered.append(worker.run_once()) or recovered[-1] is not None,
            timeout=15,
            what="the worker to claim the expired saga",
        )
    finally:
        worker.close()
        engine.dispose()
    with clean.connect() as conn:
        saga = conn.execute(text("SELECT state, step FROM sagas")).one()
        status = conn.execute(text("SELECT legacy_status FROM order_summaries")).scalar_one()
    return {"saga": tuple(saga), "status": status}


def test_crash_after_stock_reserved_is_finished_by_the_worker(
    clean: Engine, monolith: FakeMonolith, settings: Settings
) -> None:
    result = _crash_then_recover(clean, monolith, settings, "StockReserved")
    assert result == {"saga": ("completed", "done"), "status": "paid"}
    assert monolith.stock(1) == 3  # taken once
    assert len({c for e, c in monolith.calls if e == "reserve"}) == 1
    assert monolith.carts["s1"]["items"] == {}


def test_crash_after_payment_authorised_is_finished_by_the_worker(
    clean: Engine, monolith: FakeMonolith, settings: Settings
) -> None:
    result = _crash_then_recover(clean, monolith, settings, "PaymentAuthorised")
    assert result == {"saga": ("completed", "done"), "status": "paid"}
    assert monolith.stock(1) == 3


def test_two_workers_never_claim_the_same_saga(clean: Engine, settings: Settings) -> None:
    import uuid

    with clean.begin() as conn:
        token = uuid.uuid4()
        card = "INSERT INTO gateway_cards (token, number) VALUES (:t, '4242424242424242')"
        conn.execute(text(card), {"t": token})
        for n in range(6):
            conn.execute(
                text(
                    "INSERT INTO sagas (saga_id, order_id, state, step, idempotency_key, owner,"
                    " card_token, lease_until, deadline) VALUES (:id, :order, 'running', 'reserve',"
                    " :key, 'guest:x', :token, now() - interval '1 s', now() + interval '1 h')"
                ),
                {"id": uuid.uuid4(), "order": n + 1, "key": f"k{n}", "token": token},
            )
    engine = engine_for(settings.database_url)
    claims: dict[str, list[object]] = {"a": [], "b": []}
    barrier = threading.Barrier(2, timeout=10)
    try:
        workers = {n: saga_worker(settings, engine, f"worker:{n}") for n in claims}

        def claim_all(name: str) -> None:
            barrier.wait()
            while (saga := workers[name].claim()) is not None:
                claims[name].append(saga.saga_id)

        threads = [threading.Thread(target=claim_all, args=(n,)) for n in claims]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    finally:
        for worker in workers.values():
            worker.close()
        engine.dispose()
    both = claims["a"] + claims["b"]
    assert len(both) == 6
    assert len(set(both)) == 6
