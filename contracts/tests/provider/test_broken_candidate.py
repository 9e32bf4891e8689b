"""A deliberately broken candidate: the catalog service with ``price`` sent as a JSON
number instead of a decimal string. The verification must fail, say where in readable
words, and the gate must then refuse the cut-over. Proves the gate can fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catalog_service.bootstrap import http_app
from catalog_service.settings import Settings
from contracts.catalog_states import state_handlers
from contracts.paths import PACTS_DIR
from contracts.servers import UvicornThread
from contracts.verification import verify_http
from facade.config import parse_config
from facade.gate import evaluate, read_ledger, read_pacts
from sqlalchemy import Engine

PACT = PACTS_DIR / "shop-web-catalog-api.json"


def _prices_as_numbers(document: Any) -> Any:
    if isinstance(document, dict):
        return {
            k: float(v) if k == "price" and isinstance(v, str) else _prices_as_numbers(v)
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [_prices_as_numbers(v) for v in document]
    return document


class PriceAsNumber:
    """ASGI wrapper: rewrites every JSON response so ``price`` is a number (the bug)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start: dict[str, Any] = {}
        body = bytearray()

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            payload = bytes(body)
            if any(k.lower() == b"content-type" and v.startswith(b"application/json")
                   for k, v in headers):  # fmt: skip
                payload = json.dumps(_prices_as_numbers(json.loads(payload))).encode()
            headers.append((b"content-length", str(len(payload)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        await self.app(scope, receive, capture)


def test_broken_candidate_fails_verification_and_the_gate(
    catalog_database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = catalog_database
    ledger = tmp_path / "ledger.json"
    app = PriceAsNumber(http_app(Settings(database_url=url, pool_min_size=1, pool_max_size=2)))
    with UvicornThread(app) as base_url:
        outcome = verify_http(
            PACT,
            implementation="catalog",
            base_url=base_url,
            state_handler=state_handlers(engine),
            ledger=ledger,
        )
    assert not outcome.passed
    assert outcome.interactions >= 1
    report = outcome.report()
    # readable: which interaction, which field, what was expected
    assert "a request for product 42" in report, report
    assert "$.price" in report, report
    assert "FAILED" in report

    config = parse_config(
        {
            "upstreams": {
                "monolith": {"instances": "http://127.0.0.1:9"},
                "catalog": {"instances": "http://127.0.0.1:9"},
            },
            "routes": [
                {"id": "catalog-products", "path": "/api/products/**", "upstream": "catalog"},
                {"id": "default", "path": "/**", "upstream": "monolith"},
            ],
        },
        env={},
    )
    decision = evaluate(config, "catalog-products", read_pacts(PACTS_DIR), read_ledger(ledger))
    assert not decision.allowed
    assert "failed against catalog" in decision.reasons[0]
    assert "price" in decision.reasons[0]
