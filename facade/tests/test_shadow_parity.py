"""Shadow comparison through a real facade and real upstream servers on loopback."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from facade.config import ConfigError, parse_config

from .conftest import ServerThread
from .shadowlib import (
    AUTH,
    ROUTE_PARITY_KEYS,
    DocApp,
    parity,
    product,
    shadow_doc,
    upstream_starter,
    wait_parity,
)


@pytest.fixture
def upstreams(serve: Callable[..., ServerThread]) -> Callable[..., tuple[DocApp, str]]:
    return upstream_starter(serve)


def test_mismatches_are_recorded_with_diffs(upstreams, facade_factory) -> None:
    _, mono = upstreams(product("12.50", email="alice@example.org"))
    _, cat = upstreams(
        lambda m, p, n: (
            200,
            {"id": 42, "price": "12.49" if "42" in p else "12.50", "email": "bob@example.org"},
        )
    )
    doc = shadow_doc(mono, cat, compare={"noise_sample_rate": 0, "pii": ["email"]})
    f = facade_factory(doc)
    for pid in (41, 42, 42):
        resp = httpx.get(f"{f.url}/api/products/{pid}/?token=s3cret")
        assert resp.status_code == 200
        assert resp.json()["price"] == "12.50"  # the client gets the primary's answer
    found = wait_parity(f.url, "3 comparisons", lambda p: p["compared"] == 3)
    assert list(found) == ROUTE_PARITY_KEYS
    assert (found["matched"], found["mismatched"], found["candidate_errors"]) == (0, 3, 0)
    assert found["match_rate"] == 0.0
    assert found["fields"] == [
        {"path": "$.email", "mismatches": 3},
        {"path": "$.price", "mismatches": 2},
        {"path": "$.id", "mismatches": 1},
    ]
    latest = found["recent"][0]
    assert latest["method"] == "GET"
    assert latest["target"] == "/api/products/42/?token=[masked]"
    assert (latest["primary_status"], latest["candidate_status"]) == (200, 200)
    assert latest["at"].endswith("Z")
    assert {"path": "$.price", "kind": "changed", "primary": "12.50", "candidate": "12.49"} in (
        latest["diffs"]
    )
    assert {"path": "$.email", "kind": "changed", "primary": "[masked]",
            "candidate": "[masked]"} in latest["diffs"]  # fmt: skip
    assert "alice" not in json.dumps(found)
    assert "s3cret" not in json.dumps(found)
    metrics = httpx.get(f.url + "/metrics").text
    assert 'facade_parity_compared_total{route="products"} 3.0' in metrics
    assert 'facade_parity_mismatched_total{route="products"} 3.0' in metrics
    assert 'facade_parity_match_rate{route="products"} 0.0' in metrics
    assert 'facade_parity_top_field_mismatches{path="$.email",route="products"} 3.0' in metrics


def test_matching_answers_and_ignore_rules(upstreams, facade_factory) -> None:
    _, mono = upstreams(product("12.50", updated_at="2026-01-01T10:00:00Z"))
    _, cat = upstreams(product("12.5", updated_at="2026-01-01T11:00:00+01:00"))
    rules = {"noise_sample_rate": 0, "normalisers": ["decimal", "iso-timestamp"]}
    f = facade_factory(shadow_doc(mono, cat, compare=rules))
    httpx.get(f"{f.url}/api/products/7/")
    found = wait_parity(f.url, "one comparison", lambda p: p["compared"] == 1)
    assert (found["matched"], found["match_rate"], found["recent"]) == (1, 1.0, [])


def test_noise_is_learned_from_two_primary_answers(upstreams, facade_factory) -> None:
    # The primary's generated_at changes on every call; the candidate's differs too.
    mono_app, mono = upstreams(lambda m, p, n: (200, {"price": "1.00", "generated_at": n}))
    _, cat = upstreams(lambda m, p, n: (200, {"price": "1.00", "generated_at": -n}))
    f = facade_factory(shadow_doc(mono, cat, compare={"noise_sample_rate": 1.0}))
    for _ in range(3):
        assert httpx.get(f"{f.url}/api/products/1/").status_code == 200
    found = wait_parity(f.url, "3 comparisons", lambda p: p["compared"] == 3)
    assert found["noise_paths"] == ["$.generated_at"]
    assert (found["matched"], found["mismatched"], found["fields"]) == (3, 0, [])
    assert len(mono_app.requests) == 6  # every copy sampled: the primary asked twice


def test_unsafe_write_without_a_strategy_is_not_mirrored(upstreams, facade_factory) -> None:
    _, mono = upstreams(product("1"))
    cat_app, cat = upstreams(product("1"))
    f = facade_factory(shadow_doc(mono, cat))
    assert httpx.post(f"{f.url}/api/products/", json={"name": "x"}).status_code == 200
    assert httpx.get(f"{f.url}/api/products/1/").status_code == 200
    found = wait_parity(f.url, "the GET compared", lambda p: p["compared"] == 1)
    assert found["skipped_unsafe"] == 1
    assert [(m, p) for m, p, _ in cat_app.requests] == [("GET", "/api/products/1/")]


def test_dry_run_copy_carries_the_header_and_unconfirmed_is_an_error(
    upstreams, facade_factory
) -> None:
    mono_app, mono = upstreams(product("1"))
    cat_app, cat = upstreams(product("1"))  # does not know about dry runs
    f = facade_factory(shadow_doc(mono, cat, shadow_writes="dry-run"))
    # a client cannot ask for a dry run itself: the header never reaches the primary
    resp = httpx.post(f"{f.url}/api/products/", json={}, headers={"X-Strangler-Dry-Run": "1"})
    assert resp.status_code == 200
    found = wait_parity(f.url, "a candidate error", lambda p: p["candidate_errors"] == 1)
    assert found["compared"] == 0
    assert "x-strangler-dry-run" not in mono_app.requests[0][2]
    assert cat_app.requests[0][0] == "POST"
    assert cat_app.requests[0][2]["x-strangler-dry-run"] == "1"


def test_a_full_queue_drops_copies_and_the_client_is_not_held(upstreams, facade_factory) -> None:
    gate = threading.Event()
    _, mono = upstreams(product("1"))
    cat_app, cat = upstreams(product("1"), gate=gate)
    doc = shadow_doc(mono, cat)
    f = facade_factory(doc, shadow_queue_size=1, shadow_workers=1, shadow_timeout=30)
    try:
        # The candidate answers nothing until the gate opens; the clients are served anyway.
        for _ in range(6):
            assert httpx.get(f"{f.url}/api/products/3/", timeout=5).status_code == 200
        found = parity(f.url)
        assert found["dropped"] == 4  # one copy in the worker, one queued, four dropped
        assert found["compared"] == 0
        assert len(cat_app.requests) == 1
    finally:
        gate.set()
    found = wait_parity(f.url, "the held copies compared", lambda p: p["compared"] == 2)
    assert (found["matched"], found["dropped"]) == (2, 4)
    stats = httpx.get(f"{f.url}/_strangler/api/shadow", headers=AUTH).json()["products"]
    assert stats["dropped"] == 4


def test_two_replicas_share_results_through_redis(upstreams, facade_factory) -> None:
    _, mono = upstreams(product("12.50"))
    _, cat = upstreams(product("12.49"))
    doc = shadow_doc(mono, cat)
    shared = {"redis_url": os.environ["REDIS_URL"], "redis_prefix": f"t{uuid.uuid4().hex[:8]}"}
    a = facade_factory(doc, name="a.yaml", **shared)
    b = facade_factory(doc, name="b.yaml", **shared)
    for replica in (a, b, b):
        assert httpx.get(f"{replica.url}/api/products/5/").status_code == 200
    assert httpx.post(f"{a.url}/api/products/", json={}).status_code == 200
    found = wait_parity(a.url, "3 comparisons", lambda p: p["compared"] == 3)
    assert (found["mismatched"], found["skipped_unsafe"]) == (3, 1)
    assert found["fields"] == [{"path": "$.price", "mismatches": 3}]
    assert len(found["recent"]) == 3
    assert parity(b.url) == found
    listing = httpx.get(f"{b.url}/_strangler/api/parity", headers=AUTH).json()
    assert [r["route"] for r in listing["routes"]] == ["products"]

    reset = httpx.delete(
        f"{b.url}/_strangler/api/parity/products", headers={**AUTH, "X-Actor": "eve"}
    )
    assert reset.status_code == 200
    assert (reset.json()["compared"], reset.json()["match_rate"]) == (0, None)
    assert parity(a.url)["compared"] == 0
    audit = httpx.get(f"{a.url}/_strangler/api/audit", headers=AUTH).json()["entries"]
    assert (audit[0]["action"], audit[0]["who"], audit[0]["route"]) == (
        "reset-parity", "admin:eve", "products",
    )  # fmt: skip
    assert audit[0]["old"]["compared"] == 3


def test_admin_parity_endpoints_need_the_token_and_know_routes(upstreams, facade_factory) -> None:
    _, mono = upstreams(product("1"))
    _, cat = upstreams(product("1"))
    f = facade_factory(shadow_doc(mono, cat))
    assert httpx.get(f"{f.url}/_strangler/api/parity").status_code == 401
    assert httpx.get(f"{f.url}/_strangler/api/parity/products").status_code == 401
    assert httpx.delete(f"{f.url}/_strangler/api/parity/products").status_code == 401
    missing = httpx.get(f"{f.url}/_strangler/api/parity/nope", headers=AUTH)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert httpx.delete(f"{f.url}/_strangler/api/parity/nope", headers=AUTH).status_code == 404
    empty = parity(f.url)
    assert list(empty) == ROUTE_PARITY_KEYS
    assert (empty["compared"], empty["match_rate"], empty["fields"]) == (0, None, [])
    listing = httpx.get(f"{f.url}/_strangler/api/parity", headers=AUTH).json()
    assert listing == {"routes": [empty]}
    # the strategy and the rules can be changed at runtime, validated like the file
    change = {"shadow_writes": "dry-run", "compare": {"ignore": ["$.x"], "pii": ["Email"]}}
    resp = httpx.put(f"{f.url}/_strangler/api/routes/products", json=change, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert resp.json()["shadow_writes"] == "dry-run"
    assert resp.json()["compare"]["pii"] == ["email"]
    bad = {"compare": {"ignore": ["x"]}}
    resp = httpx.put(f"{f.url}/_strangler/api/routes/products", json=bad, headers=AUTH)
    assert resp.status_code == 422
    assert resp.json()["problems"] == [
        "routes[products].compare.ignore: JSON path 'x' must start with '$'"
    ]


def test_shadow_writes_configuration() -> None:
    def route(**extra: Any) -> dict[str, Any]:
        return {
            "upstreams": {"m": {"instances": ["http://a"]}, "c": {"instances": ["http://b"]}},
            "routes": [
                {"id": "r", "path": "/x/**", "upstream": "c", "fallback": "m", **extra},
                {"id": "default", "path": "/**", "upstream": "m"},
            ],
        }

    assert parse_config(route()).routes[0].shadow_writes is None
    assert parse_config(route(shadow_unsafe=True)).routes[0].shadow_writes == "mirror"
    assert parse_config(route(shadow_unsafe=False)).routes[0].shadow_writes is None
    assert parse_config(route(shadow_writes="dry-run")).routes[0].shadow_writes == "dry-run"
    cases = {
        "routes[r]: shadow_unsafe: true conflicts with shadow_writes: dry-run; keep only "
        "shadow_writes": route(shadow_unsafe=True, shadow_writes="dry-run"),
        "routes[r].shadow_writes: Input should be 'dry-run' or 'mirror'": route(
            shadow_writes="yes"
        ),
        "routes[r].compare.normalisers.0.name: unknown normaliser 'nope' (known: casefold, "
        "decimal, iso-timestamp, trim, url-trailing-slash)": route(
            compare={"normalisers": ["nope"]}
        ),
        "routes[r].compare.ignore: JSON path 'results' must start with '$'": route(
            compare={"ignore": ["results"]}
        ),
        "routes[r].compare.noise_sample_rate: Input should be less than or equal to 1": route(
            compare={"noise_sample_rate": 2}
        ),
    }
    for message, document in cases.items():
        with pytest.raises(ConfigError) as info:
            parse_config(document)
        assert info.value.problems == [message]
