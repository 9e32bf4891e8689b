"""Helpers of the shadow tests: JSON upstreams with scripted answers, routes, parity reads."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from .conftest import ServerThread, _read_body, wait_for

AUTH = {"Authorization": "Bearer test-admin-token"}
Answer = Callable[[str, str, int], tuple[int, Any]]


class DocApp:
    """An upstream answering JSON from ``answer(method, path, nth call)``; records requests."""

    def __init__(self, answer: Answer, gate: threading.Event | None = None) -> None:
        self.answer = answer
        self.gate = gate
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await _read_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((scope["method"], scope["path"], headers))
        if self.gate is not None:
            await asyncio.to_thread(self.gate.wait, 30)
        status, doc = self.answer(scope["method"], scope["path"], len(self.requests))
        body = json.dumps(doc).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def product(price: str, **extra: Any) -> Answer:
    def answer(method: str, path: str, n: int) -> tuple[int, Any]:
        pid = int(path.rstrip("/").rsplit("/", 1)[-1] or 0) if path[-2:-1].isdigit() else 0
        return 200, {"id": pid, "price": price, **extra}

    return answer


def upstream_starter(serve: Callable[..., ServerThread]) -> Callable[..., tuple[DocApp, str]]:
    def start(answer: Answer, gate: threading.Event | None = None) -> tuple[DocApp, str]:
        app = DocApp(answer, gate)
        return app, serve(app).url

    return start


def shadow_doc(monolith_url: str, catalog_url: str, **route: Any) -> dict[str, Any]:
    products: dict[str, Any] = {
        "id": "products",
        "path": "/api/products/**",
        "upstream": "catalog",
        "mode": "shadow",
        "compare": {"noise_sample_rate": 0},
    }
    products.update(route)
    return {
        "upstreams": {
            "monolith": {"instances": [monolith_url]},
            "catalog": {"instances": [catalog_url], "retries": 0},
        },
        "routes": [products, {"id": "default", "path": "/**", "upstream": "monolith"}],
    }


def parity(url: str, route: str = "products") -> dict[str, Any]:
    resp = httpx.get(f"{url}/_strangler/api/parity/{route}", headers=AUTH)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def wait_parity(url: str, what: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def ready() -> bool:
        found.update(parity(url))
        return check(found)

    wait_for(ready, 10, what)
    return found


ROUTE_PARITY_KEYS = [
    "route", "compared", "matched", "mismatched", "candidate_errors", "dropped",
    "skipped_unsafe", "match_rate", "noise_paths", "fields", "recent",
]  # fmt: skip
