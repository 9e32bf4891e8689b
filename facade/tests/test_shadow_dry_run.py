"""A real write shadowed as a dry run: the monolith (a live Django server) is the candidate.

The primary is a stand-in answering like the shop's cart API; the copy of the write runs in
the real monolith inside a transaction it rolls back, and the comparison is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.contrib.sessions.models import Session
from shop.cart.models import Cart, CartItem
from shop.catalog.services import product_create

from .conftest import ServerThread, wait_for
from .shadowlib import AUTH, DocApp, parity, shadow_doc, upstream_starter


@pytest.fixture
def upstreams(serve: Callable[..., ServerThread]) -> Callable[..., tuple[DocApp, str]]:
    return upstream_starter(serve)


def cart_answer(method: str, path: str, n: int) -> tuple[int, Any]:
    return 201, {
        "id": 9000 + n,
        "items": [{"sku": "MUG-RED", "quantity": 2, "unit_price": "12.50", "line_total": "25.00"}],
        "count": 2,
        "total": "25.00",
        "currency": "EUR",
    }


def rows() -> tuple[int, int, int]:
    return Cart.objects.count(), CartItem.objects.count(), Session.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_shadowed_write_runs_as_a_dry_run_in_the_candidate(
    live_server: Any, upstreams: Any, facade_factory: Any
) -> None:
    product_create(sku="MUG-RED", name="Red Mug", price="12.50", stock=10)
    primary, primary_url = upstreams(cart_answer)
    doc = shadow_doc(primary_url, live_server.url, path="/api/cart/**", shadow_writes="dry-run")
    doc["routes"][0]["compare"] = {
        "noise_sample_rate": 0,
        "ignore": ["$.id", "$.items[*].product_id", "$.items[*].name", "$.items[*].currency",
                   "$.items[*].available"],
    }  # fmt: skip
    f = facade_factory(doc)
    before = rows()

    resp = httpx.post(f"{f.url}/api/cart/items/", json={"sku": "MUG-RED", "quantity": 2})
    assert resp.status_code == 201
    assert resp.json()["id"] == 9001  # the client got the primary's answer

    found = wait_for(lambda: parity(f.url)["compared"] == 1 and parity(f.url), 15, "comparison")
    assert (found["matched"], found["mismatched"], found["candidate_errors"]) == (1, 0, 0)
    assert rows() == before  # the candidate ran the write and rolled it back

    # A difference in what the write would produce is reported like any other.
    resp = httpx.post(f"{f.url}/api/cart/items/", json={"sku": "MUG-RED", "quantity": 3})
    assert resp.status_code == 201
    found = wait_for(lambda: parity(f.url)["compared"] == 2 and parity(f.url), 15, "comparison")
    assert found["mismatched"] == 1
    diffs = {d["path"]: d for d in found["recent"][0]["diffs"]}
    assert diffs["$.count"] == {"path": "$.count", "kind": "changed", "primary": "2",
                                "candidate": "3"}  # fmt: skip
    assert rows() == before

    # The same write sent straight to the candidate, without the header, is real.
    assert (
        httpx.post(f"{live_server.url}/api/cart/items/", json={"sku": "MUG-RED"}).status_code == 201
    )
    assert rows()[0] == before[0] + 1
    assert len(primary.requests) == 2
    assert httpx.get(f"{f.url}/_strangler/api/parity", headers=AUTH).status_code == 200
