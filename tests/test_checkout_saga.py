"""Step 5 end to end: the orders service's checkout saga against the real monolith.

The monolith runs under gunicorn on the test database (its cart, its inventory, its
participant endpoints); the orders service under uvicorn on a scratch database; the
orders relay and the monolith's ``shop.sync`` worker carry each order back into the
legacy tables. Guests fill their carts through the monolith's API and check out at the
orders service, as the facade would send them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from synclib import REPO, Process, query, scalar, shop_dsn, wait_for
from test_tracing import free_port, running

pytestmark = pytest.mark.django_db(transaction=True)

GUEST = {"email": "saga@example.com", "name": "Saga Test", "line1": "Weg 1", "line2": "",
         "city": "Berlin", "zip": "10115", "country": "DE",
         "card_number": "4242424242424242"}  # fmt: skip
DECLINED = "4000000000000002"


@pytest.fixture
def order_ids(orders_db: str) -> str:
    """The orders database, numbering orders from a range of its own per test: the
    monolith's inbox outlives the test database's flush and would take a reused id's
    events for old ones."""
    with psycopg.connect(orders_db, autocommit=True) as conn:
        start = 1_000_000_000 + uuid.uuid4().int % 10**6 * 1000  # legacy ids are int4
        conn.execute(f"ALTER SEQUENCE order_legacy_id_seq RESTART WITH {start}")
    return orders_db


class Saga:
    """The monolith, the orders service and the reverse sync, as real processes."""

    def __init__(self, shop: str, orders: str, broker: str, stack: contextlib.ExitStack) -> None:
        mono_port, orders_port = free_port(), free_port()
        queue = f"orders-test-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "DATABASE_URL": shop, "ORDERS_DATABASE_URL": orders,
               "SHOP_ENV": "local", "DEBUG": "0", "PORT": str(mono_port),
               "WEB_CONCURRENCY": "2", "MONOLITH_URL": f"http://127.0.0.1:{mono_port}",
               "SHOP_SYNC_DATABASE_URL": shop, "SHOP_SYNC_BROKER_URL": broker,
               "DJANGO_SETTINGS_MODULE": "shop.settings"}  # fmt: skip
        self.monolith = f"http://127.0.0.1:{mono_port}"
        self.orders = f"http://127.0.0.1:{orders_port}"
        config = str(REPO / "monolith" / "gunicorn.conf.py")
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", config, "shop.wsgi:application"]
        mono_env = {**env, "PYTHONPATH": str(REPO / "monolith")}
        stack.enter_context(running("monolith", gunicorn, mono_env, f"{self.monolith}/readyz"))
        serve = [sys.executable, "-m", "orders_service", "serve", "--port", str(orders_port)]
        stack.enter_context(running("orders", serve, env, f"{self.orders}/readyz"))
        for process in (
            Process("orders-relay", [sys.executable, "-m", "outbox", "relay", "--dsn", orders,
                                     "--broker", broker, "--task", "shop.orders.apply",
                                     "--queue", queue, "--poll-interval", "0.2"], env),
            Process("shop-sync", [sys.executable, "-m", "celery", "-A", "shop.sync.consumer",
                                  "worker", "-Q", queue, "-P", "solo",
                                  "-n", f"s{uuid.uuid4().hex[:8]}@%h", "--without-gossip",
                                  "--without-mingle", "--without-heartbeat"], env),
        ):  # fmt: skip
            process.start()
            stack.callback(process.stop)

    def guest_with(self, product_id: int, quantity: int = 1) -> httpx.Cookies:
        """A guest session whose cart (in the monolith) holds ``quantity`` of the product."""
        with httpx.Client(base_url=self.monolith, timeout=30) as client:
            item = {"product_id": product_id, "quantity": quantity}
            resp = client.post("/api/cart/items/", json=item)
            assert resp.status_code == 201, resp.text
            return httpx.Cookies(client.cookies)

    def checkout(self, cookies: httpx.Cookies, **changes: str) -> httpx.Response:
        with httpx.Client(base_url=self.orders, timeout=90, cookies=cookies) as client:
            return client.post("/api/checkout/", json={**GUEST, **changes})


@pytest.fixture
def saga(order_ids: str, redis_broker: str) -> Iterator[Saga]:
    with contextlib.ExitStack() as stack:
        yield Saga(shop_dsn(), order_ids, redis_broker, stack)


def _product(stock: int) -> int:
    from shop.catalog.services import product_create

    sku = f"SAGA-{uuid.uuid4().hex[:8]}"
    return int(product_create(sku=sku, name="Saga Mug", price="9.50", stock=stock).pk)


def _stock(product_id: int) -> int:
    return int(scalar(shop_dsn(), "SELECT qty FROM shop_product WHERE id = %s", (product_id,)))


def _legacy(order_id: int) -> tuple[Any, ...] | None:
    rows = query(shop_dsn(), "SELECT status FROM shop_order WHERE id = %s", (order_id,))
    return rows[0] if rows else None


def test_concurrent_checkouts_for_the_last_units_never_oversell(saga: Saga) -> None:
    product = _product(stock=3)
    carts = [saga.guest_with(product) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(saga.checkout, carts))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 3 + [409] * 5, [a.text[:200] for a in answers]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert {p["type"].rsplit("/", 1)[-1] for p in refused} == {"insufficient-stock"}
    assert _stock(product) == 0
    moves = query(shop_dsn(), "SELECT sum(delta) FROM shop_stockmove WHERE product_id = %s "
                  "AND reason = 'sale'", (product,))  # fmt: skip
    assert moves[0][0] == -3
    # The three paid orders reach the monolith's tables; the refused ones never existed.
    paid = [a.json()["id"] for a in answers if a.status_code == 201]
    for order_id in paid:
        wait_for(lambda oid=order_id: _legacy(oid) == ("paid",), timeout=30,
                 what=f"order {order_id} in shop_order")  # fmt: skip
    assert scalar(shop_dsn(), "SELECT count(*) FROM shop_order") == 3


def test_a_declined_payment_releases_the_stock_and_the_monolith_sees_the_cancellation(
    saga: Saga,
) -> None:
    product = _product(stock=2)
    answer = saga.checkout(saga.guest_with(product), card_number=DECLINED)
    assert answer.status_code == 402, answer.text
    problem = answer.json()
    assert problem["type"].endswith("/payment-declined")
    order_id = int(problem["order_id"])
    assert _stock(product) == 2
    deltas = query(shop_dsn(), "SELECT reason, delta FROM shop_stockmove WHERE product_id = %s"
                   " AND reason IN ('sale', 'cancel') ORDER BY id", (product,))  # fmt: skip
    assert deltas == [("sale", -1), ("cancel", 1)]
    wait_for(lambda: _legacy(order_id) == ("cancelled",), timeout=30, what="the cancelled copy")
    payments = query(shop_dsn(), "SELECT status FROM shop_payment WHERE order_id = %s",
                     (order_id,))  # fmt: skip
    assert payments == [("declined",)]
    # The cart is kept so the customer can try another card, as in the monolith.
    again = saga.checkout(saga.guest_with(product))
    assert again.status_code == 201, again.text
    assert _stock(product) == 1


def test_every_order_of_the_saga_reads_the_same_on_both_sides(saga: Saga) -> None:
    product = _product(stock=5)
    placed = saga.checkout(saga.guest_with(product, quantity=2))
    assert placed.status_code == 201, placed.text
    order = placed.json()
    wait_for(lambda: _legacy(order["id"]) == ("paid",), timeout=30, what="the paid copy")
    # The monolith's own serializer renders its copy: the legacy JSON must be identical.
    from shop.orders.apis import order_json
    from shop.orders.models import Order

    copy = order_json(Order.objects.prefetch_related("lines", "payments").get(pk=order["id"]))
    from rest_framework.renderers import JSONRenderer

    assert json.loads(JSONRenderer().render(copy)) == order
