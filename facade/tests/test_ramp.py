"""The parity-gated canary ramp, under real load through a real facade."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from facade.config import ConfigError, parse_config

from .conftest import ADMIN_TOKEN, ServerThread, wait_for

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Candidate:
    """The extracted side: answers like the monolith until told to fail or to differ."""

    def __init__(self) -> None:
        self.failing = False
        self.different = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        status = 500 if self.failing else 200
        body = {"id": 1, "price": "12.50" if not self.different else "99.00"}
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"x-upstream", b"catalog")]})  # fmt: skip
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def monolith_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"x-upstream", b"monolith")]})  # fmt: skip
    await send(
        {"type": "http.response.body", "body": json.dumps({"id": 1, "price": "12.50"}).encode()}
    )


@pytest.fixture
def sides() -> Iterator[tuple[Candidate, str, str]]:
    candidate = Candidate()
    mono = ServerThread(monolith_app).start()
    cand = ServerThread(candidate).start()
    yield candidate, mono.url, cand.url
    cand.stop()
    mono.stop()


def _doc(monolith_url: str, catalog_url: str, ramp: dict[str, Any], **route: Any) -> dict[str, Any]:
    return {
        "upstreams": {
            "monolith": {"instances": [monolith_url]},
            "catalog": {"instances": [catalog_url], "retries": 0,
                        "breaker": {"failure_threshold": 1000, "reset_timeout": 1}},
        },
        "routes": [
            {"id": "products", "path": "/api/products/**", "upstream": "catalog",
             "mode": "canary", "percent": ramp["steps"][0], "sticky": [], "ramp": ramp, **route},
            {"id": "default", "path": "/**", "upstream": "monolith"},
        ],
    }  # fmt: skip


class Load:
    """Clients reading products through the facade until stopped; every answer is kept."""

    def __init__(self, url: str, clients: int = 4) -> None:
        self.url = url
        self.statuses: Counter[int] = Counter()
        self.answered_by: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                r = client.get(f"/api/products/{uuid.uuid4().hex[:6]}/")
                self.statuses[r.status_code] += 1
                self.answered_by[r.headers.get("x-upstream", "?")] += 1

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)


def _route(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/_strangler/api/routes/products", headers=AUTH).json()  # type: ignore[no-any-return]


def _audit(url: str) -> list[dict[str, Any]]:
    """The ramp's audit entries, oldest first, each with the route's new mode and percent."""
    entries = httpx.get(f"{url}/_strangler/api/audit?limit=200", headers=AUTH).json()["entries"]
    out = []
    for e in reversed(entries):
        if e.get("who") == "ramp" and e.get("source") == "ramp":
            ((rid, route),) = e["new"]["routes"].items()
            out.append({**e, "route": rid, "mode": route["mode"], "percent": route["percent"]})
    return out


@pytest.mark.parametrize("min_compared", [0, 5], ids=["errors-only", "parity-gated"])
def test_the_ramp_advances_step_by_step_to_extracted_while_healthy(
    sides: Any, facade_factory: Any, min_compared: int
) -> None:
    """With a parity gate too: at 100 % nothing is left to compare, and it still finishes."""
    _, mono, cand = sides
    ramp = {"steps": [10, 50, 100], "hold": 0.5, "min_requests": 5, "min_compared": min_compared}
    facade = facade_factory(_doc(mono, cand, ramp), ramp_interval=0.05)
    with Load(facade.url) as load:
        wait_for(lambda: _route(facade.url)["mode"] == "extracted", 60, "the ramp to finish")
    steps = [(e["action"], e["mode"], e["percent"]) for e in _audit(facade.url)]
    assert steps == [
        ("ramp-advance", "canary", 50.0),
        ("ramp-advance", "canary", 100.0),
        ("ramp-finish", "extracted", None),
    ]
    assert all("error rate 0.0%" in e["reason"] for e in _audit(facade.url))
    assert set(load.statuses) == {200}


def test_a_failing_candidate_rolls_back_by_itself_under_load_with_no_client_errors(
    sides: Any, facade_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    candidate, mono, cand = sides
    ramp = {"steps": [50, 100], "hold": 3600, "min_requests": 5, "fast_window": 2,
            "min_requests_fast": 5, "max_error_rate": 0.05}  # fmt: skip
    facade = facade_factory(_doc(mono, cand, ramp), ramp_interval=0.05)
    with Load(facade.url) as load:
        wait_for(lambda: load.answered_by["catalog"] >= 20, 30, "the candidate to serve its share")
        candidate.failing = True
        wait_for(lambda: _route(facade.url)["mode"] == "shadow", 30, "the automatic roll-back")
        served = load.answered_by["catalog"]
        wait_for(lambda: load.answered_by["monolith"] >= served + 20, 30, "traffic after it")
        late = load.answered_by["catalog"]
        wait_for(lambda: load.answered_by["monolith"] >= served + 40, 30, "more traffic")
    # Safe requests the failing candidate could not answer were answered by the monolith.
    assert set(load.statuses) == {200}, load.statuses
    assert load.answered_by["catalog"] == late  # after the roll-back no request reached it
    rollback = [e for e in _audit(facade.url) if e["action"] == "ramp-rollback"]
    assert len(rollback) == 1
    assert rollback[0]["mode"] == "shadow"
    assert "candidate error rate" in rollback[0]["reason"]
    assert any("rolled products back to shadow" in r.getMessage() for r in caplog.records)


def test_parity_below_the_threshold_rolls_back(sides: Any, facade_factory: Any) -> None:
    candidate, mono, cand = sides
    candidate.different = True  # 200s, but the price differs from the monolith's
    ramp = {"steps": [10, 100], "hold": 3600, "min_requests": 5, "min_compared": 5,
            "min_match_rate": 0.99, "rollback_to": "monolith"}  # fmt: skip
    facade = facade_factory(_doc(mono, cand, ramp), ramp_interval=0.05)
    with Load(facade.url):
        wait_for(lambda: _route(facade.url)["mode"] == "monolith", 60, "the parity roll-back")
    (rollback,) = [e for e in _audit(facade.url) if e["action"] == "ramp-rollback"]
    assert rollback["reason"].startswith("parity")


def test_rollback_reaches_every_replica(sides: Any, facade_factory: Any) -> None:
    candidate, mono, cand = sides
    redis_url = os.environ["REDIS_URL"]
    prefix = f"ramp-test-{uuid.uuid4().hex[:8]}"
    ramp = {"steps": [50, 100], "hold": 3600, "min_requests": 5, "fast_window": 2,
            "min_requests_fast": 5}  # fmt: skip
    doc = _doc(mono, cand, ramp)
    a = facade_factory(doc, name="a.yaml", redis_url=redis_url, redis_prefix=prefix,
                       ramp_interval=0.05)  # fmt: skip
    b = facade_factory(doc, name="b.yaml", redis_url=redis_url, redis_prefix=prefix,
                       ramp_interval=0.05)  # fmt: skip
    candidate.failing = True
    with Load(a.url, clients=2):  # only replica a sees the failures
        wait_for(lambda: _route(a.url)["mode"] == "shadow", 30, "the roll-back on a")
        wait_for(lambda: _route(b.url)["mode"] == "shadow", 5, "the roll-back on b")


@pytest.mark.parametrize(
    ("ramp", "problem"),
    [
        ({"steps": [5, 5, 100]}, "steps must increase"),
        ({"steps": [0, 100]}, "each step is a percent"),
        ({"steps": []}, "needs at least one step"),
        ({"rollback_to": "extracted"}, "rollback_to"),
    ],
)
def test_bad_ramp_configuration_is_refused_with_the_reason(
    ramp: dict[str, Any], problem: str
) -> None:
    doc = _doc("http://127.0.0.1:1", "http://127.0.0.1:2", {"steps": [1, 100]})
    doc["routes"][0]["ramp"] = ramp
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert problem in str(info.value)
    assert "routes[products].ramp" in str(info.value) or "ramp" in str(info.value)
