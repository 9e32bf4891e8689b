"""One product update through the facade is ONE trace: facade -> monolith -> relay and
catalog consumer, every process exporting over real OTLP/HTTP to a receiver on loopback;
the JSON logs of each component carry the same trace id; metrics count it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from otlp_receiver import OtlpReceiver
from strangler.stack import facade_command, monolith_command
from synclib import REPO, Process, reset_outbox, shop_dsn, sync_stack, wait_for

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP span kinds
# Nothing leaves a process before it stops: the spans arriving at all proves that every
# component flushes its batch on shutdown (gunicorn workers, facade, relay, Celery worker).
HOLD_SPANS_MS = "600000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            doc = json.loads(line[line.find("{") :]) if "{" in line else None
            if isinstance(doc, dict):
                out.append(doc)
    return out


@contextlib.contextmanager
def running(name: str, command: list[str], env: dict[str, str], ready: str) -> Iterator[Process]:
    process = Process(name, command, env)
    process.start()
    try:
        wait_for(lambda: _ok(ready) or _died(process), timeout=60, what=f"{name} ready")
        assert process.proc is not None
        assert process.proc.poll() is None, process.tail()
        yield process
    except BaseException:
        sys.stderr.write(f"--- {name}\n{process.tail()}\n")
        raise
    finally:
        process.stop()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _died(process: Process) -> bool:
    return process.proc is not None and process.proc.poll() is not None


def _metric(url: str, prefix: str) -> float:
    text = httpx.get(url, timeout=5).text
    values = [float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(prefix)]
    return sum(values)


@pytest.mark.django_db(transaction=True)
def test_one_product_update_through_the_facade_is_one_trace_across_four_processes(
    catalog_db: str, redis_broker: str
) -> None:
    from django.contrib.auth.models import Permission, User
    from rest_framework.authtoken.models import Token
    from shop.catalog import services as catalog

    shop = shop_dsn()
    reset_outbox(shop)
    mug = catalog.product_create(sku="TRACE-1", name="Mug", price="12.50", stock=3)
    clerk = User.objects.create_user(username="tracer", password="x-pass-123", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(content_type__app_label="catalog"))
    token = Token.objects.create(user=clerk).key

    trace_id = secrets.token_hex(16)
    client_span = secrets.token_hex(8)
    monolith_port, facade_port, sync_metrics = free_port(), free_port(), free_port()
    with OtlpReceiver() as receiver:
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": HOLD_SPANS_MS,
            "LOG_FORMAT": "json",
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        monolith_env = {**base, **otel, "DATABASE_URL": shop, "HOST": "127.0.0.1",
                        "PORT": str(monolith_port), "WEB_CONCURRENCY": "2"}  # fmt: skip
        monolith_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        facade_env = {
            **{k: v for k, v in base.items() if k != "REDIS_URL"}, **otel,
            "FACADE_HOST": "127.0.0.1", "FACADE_PORT": str(facade_port),
            "FACADE_ROUTES_FILE": str(REPO / "migrations-plan/step-1-facade/routes.yaml"),
            "MONOLITH_URL": f"http://127.0.0.1:{monolith_port}",
            "CATALOG_URL": f"http://127.0.0.1:{free_port()}",
        }  # fmt: skip
        with (
            sync_stack(
                shop, catalog_db, redis_broker, **otel, CATALOG_SYNC_METRICS_PORT=str(sync_metrics)
            ) as stack,  # fmt: skip
        ):
            wait_for(lambda: stack.service_price(mug.pk) == 1250, timeout=60, what="the product")
            with (
                running(
                    "monolith",
                    monolith_command(),
                    monolith_env,
                    f"http://127.0.0.1:{monolith_port}/readyz",
                ) as monolith,  # fmt: skip
                running(
                    "facade", facade_command(), facade_env, f"http://127.0.0.1:{facade_port}/readyz"
                ) as facade,  # fmt: skip
            ):
                response = httpx.patch(
                    f"http://127.0.0.1:{facade_port}/api/products/{mug.pk}/",
                    json={"price": "9.99"},
                    headers={
                        "Authorization": f"Token {token}",
                        "traceparent": f"00-{trace_id}-{client_span}-01",
                        "X-Request-ID": "follow-me",
                    },
                    timeout=10,
                )
                assert response.status_code == 200, response.text
                wait_for(lambda: stack.service_price(mug.pk) == 999, timeout=30,
                         what="the new price in the catalog service")  # fmt: skip

                # Metrics: by URL pattern name, added up over both gunicorn workers.
                monolith_metrics = f"http://127.0.0.1:{monolith_port}/metrics"
                detail = 'http_requests_total{method="GET",route="api:product-detail",status='
                for _ in range(12):
                    httpx.get(f"http://127.0.0.1:{monolith_port}/api/products/{mug.pk}/")
                assert _metric(monolith_metrics, detail + '"200"}') == 12
                patch = 'http_requests_total{method="PATCH",route="api:product-detail"'
                assert _metric(monolith_metrics, patch) == 1
                applied = 'outbox_consumed_events_total{consumer="catalog.sync",outcome="applied"}'
                assert _metric(f"http://127.0.0.1:{sync_metrics}/metrics", applied) >= 2
                worker_log = json_lines(stack.worker.log)
            monolith_log, facade_log = json_lines(monolith.log), json_lines(facade.log)
        # Every process has stopped now: their spans must have been flushed on the way out.
        wanted = {"facade", "monolith", "relay", "catalog-sync"}
        wait_for(lambda: wanted <= {s.service for s in receiver.trace(trace_id)}, timeout=30,
                 what=f"spans of {sorted(wanted)} in trace {trace_id}")  # fmt: skip
        spans = receiver.trace(trace_id)

    def one(service: str, kind: int) -> Any:
        found = [s for s in spans if s.service == service and s.kind == kind]
        assert len(found) == 1, (service, kind, spans)
        return found[0]

    facade_span = one("facade", SERVER)
    monolith_span = one("monolith", SERVER)
    relay_span = one("relay", PRODUCER)
    consumer_span = one("catalog-sync", CONSUMER)
    assert facade_span.parent_span_id == client_span
    assert facade_span.name == "PATCH catalog-products"
    assert monolith_span.parent_span_id == facade_span.span_id
    assert monolith_span.name == "PATCH api:product-detail"
    # The event carries the monolith's span: the relay and the consumer are its children.
    assert relay_span.parent_span_id == monolith_span.span_id
    assert consumer_span.parent_span_id == monolith_span.span_id

    # The JSON logs: the same trace id (and request id where there is a request) everywhere.
    access = [d for d in facade_log if d.get("logger") == "facade.access"]
    assert any(d["trace_id"] == trace_id and d["request_id"] == "follow-me" for d in access)
    shop_access = [d for d in monolith_log if d.get("logger") == "shop.access"]
    assert any(
        (d["trace_id"], d["span_id"], d["request_id"], d["component"])
        == (trace_id, monolith_span.span_id, "follow-me", "monolith")
        for d in shop_access
    )
    applied_lines = [d for d in worker_log if "applied" in d.get("message", "")]
    assert any(
        d["trace_id"] == trace_id and d["span_id"] == consumer_span.span_id
        and d["component"] == "catalog-sync"
        for d in applied_lines
    ), applied_lines  # fmt: skip
    assert all({"timestamp", "level", "component", "logger", "message"} <= d.keys()
               for d in monolith_log + worker_log)  # fmt: skip
