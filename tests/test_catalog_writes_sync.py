"""Step 4: catalog writes on both sides, synced both ways, no echoes; the ownership switch.

Both relays and both consumers run as real processes on real Redis: the monolith's outbox
-> the catalog consumer, the catalog service's outbox -> the monolith's consumer
(``shop.sync.consumer``); the service answers HTTP from a real uvicorn.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from synclib import REPO, Process, SyncStack, query, reset_outbox, scalar, shop_dsn, wait_for
from test_catalog_sync import reconcile

from strangler import ownership

SHOP_TASK = "shop.catalog.apply"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The catalog's write endpoints are staff-only: the facade would sign this token.
_KEY = ed25519.Ed25519PrivateKey.generate()
PUBLIC_PEM = (
    _KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def staff() -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "1", "staff": True, "scopes": [], "iat": now, "exp": now + 600,
              "iss": "strangler-facade", "aud": "catalog"}  # fmt: skip
    return {"X-Strangler-Identity": jwt.encode(claims, _KEY, algorithm="EdDSA")}


class TwoWayStack:
    """SyncStack (monolith -> service) plus the reverse relay, the monolith's consumer and
    the service's HTTP API."""

    def __init__(self, shop: str, catalog: str, broker: str) -> None:
        self.catalog_metrics, self.shop_metrics, self.http_port = (
            free_port(), free_port(), free_port()
        )  # fmt: skip
        self.forward = SyncStack(
            shop, catalog, broker, queue=f"catalog-test-{uuid.uuid4().hex[:8]}",
            CATALOG_SYNC_METRICS_PORT=str(self.catalog_metrics), CATALOG_SYNC_BATCH="1",
        )  # fmt: skip
        self.shop, self.catalog, self.broker = shop, catalog, broker
        self.reverse_queue = f"shop-test-{uuid.uuid4().hex[:8]}"
        env = {**self.forward.env, "SHOP_SYNC_DATABASE_URL": shop, "SHOP_SYNC_BROKER_URL": broker,
               "SHOP_SYNC_METRICS_PORT": str(self.shop_metrics), "SHOP_SYNC_MAX_ATTEMPTS": "3",
               "SHOP_SYNC_BACKOFF_BASE": "0.05", "SHOP_SYNC_VISIBILITY_TIMEOUT": "5",
               "DJANGO_SETTINGS_MODULE": "shop.settings"}  # fmt: skip
        self.env = env
        self.reverse_relay = Process(
            "reverse-relay",
            [sys.executable, "-m", "outbox", "relay", "--dsn", catalog, "--broker", broker,
             "--task", SHOP_TASK, "--queue", self.reverse_queue, "--poll-interval", "0.2"],
            env,
        )  # fmt: skip
        self.shop_worker = Process(
            "shop-worker",
            [sys.executable, "-m", "celery", "-A", "shop.sync.consumer", "worker",
             "-Q", self.reverse_queue, "-P", "solo", "-n", f"s{uuid.uuid4().hex[:8]}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            env,
        )  # fmt: skip
        self.api = Process(
            "catalog-api",
            [sys.executable, "-m", "catalog_service", "serve", "--port", str(self.http_port)],
            {**env, "CATALOG_IDENTITY_PUBLIC_KEY": PUBLIC_PEM},
        )
        self.processes = [self.forward.relay, self.forward.worker, self.reverse_relay,
                          self.shop_worker, self.api]  # fmt: skip
        self.dbs = ownership.Databases(shop, catalog)

    def start(self) -> None:
        for p in self.processes:
            p.start()
        wait_for(self._api_ready, timeout=60, what="the catalog service's HTTP API")

    def _api_ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        for p in self.processes:
            p.stop()
            p.log.unlink(missing_ok=True)
        import redis

        with contextlib.suppress(Exception):
            client = redis.Redis.from_url(self.broker)
            client.delete(self.forward.queue, self.reverse_queue)
            client.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.processes)

    def wait_both_ways(self, timeout: float) -> None:
        """Every event of each side published and applied by the other (the drain check)."""
        try:
            wait_for(
                lambda: all(ownership.lag(self.dbs, side).zero for side in ownership.SIDES),
                timeout=timeout, what="both outboxes to be applied on the other side",
            )  # fmt: skip
        except AssertionError:
            sys.stderr.write(self.logs())
            raise

    def echoes_suppressed(self, port: int) -> float:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        match = re.search(r"^outbox_echoes_suppressed_total (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0


@contextlib.contextmanager
def two_way_stack(shop: str, catalog: str, broker: str) -> Iterator[TwoWayStack]:
    stack = TwoWayStack(shop, catalog, broker)
    stack.start()
    try:
        yield stack
    except BaseException:
        sys.stderr.write(stack.logs())
        raise
    finally:
        stack.stop()


def set_frozen(dsn: str, frozen: bool) -> None:
    ownership.set_frozen(dsn, frozen)


@pytest.fixture
def restore_monolith_flag() -> Iterator[None]:
    yield
    with contextlib.suppress(Exception):
        set_frozen(shop_dsn(), False)


def sync_origins(dsn: str) -> int:
    return int(scalar(dsn, "SELECT count(*) FROM outbox WHERE headers->>'origin' LIKE 'sync:%'"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_writes_on_both_sides_converge_without_echoes(
    redis_broker: str, catalog_db: str, restore_monolith_flag: None
) -> None:
    from shop.catalog import services as catalog
    from shop.catalog.models import Product
    from shop.inventory import services as inventory

    shop = shop_dsn()
    reset_outbox(shop)
    kitchen = catalog.category_create(name="Kitchen")
    ids = [catalog.product_create(sku=f"TW-{i}", name=f"P{i}", price="5.00", category=kitchen,
                                  stock=10).pk for i in range(12)]  # fmt: skip
    created_in_monolith = scalar(shop, "SELECT count(*) FROM outbox")
    with two_way_stack(shop, catalog_db, redis_broker) as stack:
        stack.wait_both_ways(timeout=60)
        set_frozen(catalog_db, False)  # both sides write during this test (the overlap)
        counts = {"monolith": 0, "service": 0}
        created_by_service: list[int] = []
        errors: list[BaseException] = []

        def monolith_writer() -> None:
            from django.db import connection

            rng = random.Random(1)
            try:
                for _ in range(60):
                    pid = rng.choice(ids)
                    if rng.random() < 0.6:
                        price = Decimal(rng.randint(100, 9999)) / 100
                        catalog.product_update(product=Product.objects.get(pk=pid), price=price,
                                               name=f"M{rng.randint(0, 999)}")  # fmt: skip
                    else:
                        inventory.stock_adjust(product_id=pid, delta=rng.randint(1, 5))
                    counts["monolith"] += 1
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        def service_writer() -> None:
            rng = random.Random(2)
            try:
                with httpx.Client(base_url=stack.url, timeout=30, headers=staff()) as http:
                    for n in range(60):
                        if n % 15 == 0:
                            response = http.post("/v2/products", json={
                                "sku": f"SVC-{n}", "name": f"S{n}",
                                "price": {"amount": "3.00", "currency": "EUR"},
                                "category_id": kitchen.pk})  # fmt: skip
                            assert response.status_code == 201, response.text
                            created_by_service.append(response.json()["id"])
                        else:
                            pid = rng.choice(ids + created_by_service)
                            body: dict[str, Any] = rng.choice([
                                {"price": {"amount": f"{rng.randint(100, 9999) / 100:.2f}",
                                           "currency": "EUR"}},
                                {"name": f"S{rng.randint(0, 999)}", "status": "hidden"},
                                {"status": "active", "attributes": [{"key": "k",
                                                                     "value": str(n)}]},
                            ])  # fmt: skip
                            response = http.patch(f"/v2/products/{pid}", json=body)
                            assert response.status_code == 200, response.text
                        counts["service"] += 1
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=monolith_writer),
            threading.Thread(target=service_writer),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        stack.wait_both_ways(timeout=120)
        shop_echoes = stack.echoes_suppressed(stack.shop_metrics)
        service_echoes = stack.echoes_suppressed(stack.catalog_metrics)
        set_frozen(catalog_db, True)
    # Converged: reconcile (every field of every product and category) finds no drift.
    result = reconcile(shop, catalog_db)
    assert result.returncode == 0, result.stdout + result.stderr
    # Zero echoes: each side's outbox holds exactly its own writes, none from a sync apply.
    assert sync_origins(shop) == 0
    assert sync_origins(catalog_db) == 0
    assert scalar(shop, "SELECT count(*) FROM outbox") == created_in_monolith + counts["monolith"]
    assert scalar(catalog_db, "SELECT count(*) FROM outbox") == counts["service"]
    assert (
        scalar(catalog_db, "SELECT count(*) FROM outbox WHERE headers->>'origin' <> 'catalog'") == 0
    )
    # The guard fired: applied changes asked to be recorded and were suppressed, each side.
    assert shop_echoes > 0
    assert service_echoes > 0
    # Each change took effect once per side: one inbox row per event, nothing parked.
    assert (
        scalar(shop, "SELECT count(*) FROM inbox WHERE consumer = 'shop.catalog-sync'")
        == (counts["service"])
    )
    dupes = "SELECT count(*) - count(DISTINCT event_id) FROM sync_applied_events"
    assert scalar(catalog_db, dupes) == 0
    assert scalar(shop, "SELECT count(*) FROM parked_events") == 0
    assert scalar(catalog_db, "SELECT count(*) FROM parked_events") == 0
    # Service-created products exist in the monolith with the service's ids.
    assert len(created_by_service) == 4
    assert scalar(shop, "SELECT count(*) FROM shop_product WHERE id = ANY(%s)",
                  (created_by_service,)) == 4  # fmt: skip


def switch(stack: TwoWayStack, to: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strangler", "ownership", "switch", "catalog", "--to", to,
         "--timeout", str(timeout), "--monolith-dsn", stack.shop, "--service-dsn", stack.catalog],
        cwd=REPO, capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_ownership_switch_to_the_service_and_back(
    redis_broker: str, catalog_db: str, restore_monolith_flag: None
) -> None:
    from shop.catalog import services as catalog
    from shop.catalog.models import Product
    from shop.core.errors import CatalogWritesMoved

    shop = shop_dsn()
    reset_outbox(shop)
    mug = catalog.product_create(sku="OWN-1", name="Mug", price="5.00", stock=3)
    with two_way_stack(shop, catalog_db, redis_broker) as stack:
        assert ownership.status(stack.dbs).owner == "monolith"
        for cents in range(501, 521):  # a backlog the switch must drain
            catalog.product_update(product=mug, price=Decimal(cents) / 100)
        to_service = switch(stack, "service")
        assert to_service.returncode == 0, to_service.stdout + to_service.stderr
        assert ownership.status(stack.dbs).owner == "service"
        assert stack.forward.service_price(mug.pk) == 520  # drained: nothing lost
        with pytest.raises(CatalogWritesMoved):
            catalog.product_update(product=Product.objects.get(pk=mug.pk), price="1.00")
        with httpx.Client(base_url=stack.url, timeout=30, headers=staff()) as http:
            patched = http.patch(f"/v2/products/{mug.pk}", json={"name": "Service mug"})
            assert patched.status_code == 200, patched.text
            back = switch(stack, "monolith")
            assert back.returncode == 0, back.stdout + back.stderr
            assert ownership.status(stack.dbs).owner == "monolith"
            assert Product.objects.get(pk=mug.pk).nm == "Service mug"  # drained back
            assert http.patch(f"/v2/products/{mug.pk}", json={"name": "x"}).status_code == 423
        catalog.product_update(product=Product.objects.get(pk=mug.pk), price="7.00")
        # A drain that cannot finish (the service's consumer is down): the switch fails
        # within its bound, says why, and leaves the monolith owning writes.
        stack.forward.worker.stop()
        catalog.product_update(product=Product.objects.get(pk=mug.pk), price="8.00")
        stuck = switch(stack, "service", timeout=3)
        assert stuck.returncode == 1
        assert "did not drain within 3s" in stuck.stderr
        assert ownership.status(stack.dbs).owner == "monolith"
        stack.forward.worker.start()
        stack.wait_both_ways(timeout=60)
    result = reconcile(shop, catalog_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sync_origins(shop) == 0
    assert sync_origins(catalog_db) == 0
    assert query(catalog_db, "SELECT name, price_minor FROM products WHERE legacy_id = %s",
                 (mug.pk,)) == [("Service mug", 800)]  # fmt: skip
