"""The dashboard's page and its overview endpoint, through a real facade and real upstreams."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import wait_for

AUTH = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def facade(monolith, catalog, facade_factory, routes_doc):
    return facade_factory(routes_doc(monolith[1].url, catalog[1].url))


def _overview(url: str) -> dict[str, Any]:
    resp = httpx.get(url + "/_strangler/api/overview", headers=AUTH)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _route(overview: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in overview["routes"] if r["id"] == rid)


def _sides_when(url: str, rid: str, expected: dict[str, int]) -> dict[str, Any]:
    """The route's sides once their request counts are ``expected`` (recorded after the
    response went out, so a client can be a moment ahead of the figures)."""

    def counts() -> dict[str, Any] | None:
        sides: dict[str, Any] = _route(_overview(url), rid)["sides"]
        got = {name: s["requests"] for name, s in sides.items()}
        return sides if got == expected else None

    return wait_for(counts, 5, f"request counts {expected}")  # type: ignore[no-any-return]


def test_overview_counts_requests_share_and_errors_per_side(facade) -> None:
    url = facade.url
    for _ in range(6):
        assert httpx.get(url + "/api/products/1/").json()["upstream"] == "monolith"
    assert httpx.get(url + "/api/products/status/500").status_code == 500
    sides = _sides_when(url, "products", {"monolith": 7, "catalog": 0})
    assert sides["monolith"]["errors"] == 1
    assert sides["monolith"]["share"] == 1.0
    assert sides["catalog"]["share"] == 0.0
    assert sides["monolith"]["p50_ms"] > 0
    assert sides["monolith"]["p99_ms"] >= sides["monolith"]["p50_ms"]
    assert sides["catalog"]["p50_ms"] is None

    resp = httpx.put(
        url + "/_strangler/api/routes/products", json={"mode": "extracted"}, headers=AUTH
    )
    assert resp.status_code == 200, resp.text
    for _ in range(3):
        assert httpx.get(url + "/api/products/2/").json()["upstream"] == "catalog"
    # No fallback for a write: the candidate's 503 reaches the client and is its error.
    assert httpx.post(url + "/api/products/status/503", content=b"{}").status_code == 503
    sides = _sides_when(url, "products", {"monolith": 7, "catalog": 4})
    assert sides["catalog"]["errors"] == 1
    assert sides["catalog"]["error_rate"] == 0.25
    assert sides["monolith"]["share"] == pytest.approx(7 / 11, abs=1e-4)
    assert sides["catalog"]["share"] == pytest.approx(4 / 11, abs=1e-4)

    overview = _overview(url)
    assert overview["window_seconds"] == 60
    assert overview["generated_at"].endswith("+00:00")
    route = _route(overview, "products")
    assert {k: route[k] for k in ("path", "mode", "percent", "upstream", "fallback")} == {
        "path": "/api/products/**",
        "mode": "extracted",
        "percent": None,
        "upstream": "catalog",
        "fallback": "monolith",
    }
    assert route["breakers"] == {"monolith": "closed", "catalog": "closed"}
    default = _route(overview, "default")
    assert list(default["sides"]) == ["monolith"]
    assert overview["audit"][0]["action"] == "set-route"
    assert overview["audit"][0]["new"]["routes"]["products"]["mode"] == "extracted"


def test_a_failed_candidate_read_counts_as_its_failover(facade) -> None:
    url = facade.url
    httpx.put(url + "/_strangler/api/routes/products", json={"mode": "extracted"}, headers=AUTH)
    # The candidate answers 500, the facade asks the monolith instead, which answers 500 too.
    assert httpx.get(url + "/api/products/status/500").status_code == 500
    sides = _sides_when(url, "products", {"monolith": 1, "catalog": 0})
    assert sides["catalog"]["failovers"] == 1
    assert sides["monolith"]["errors"] == 1


def test_breaker_state_shows_in_the_overview(monolith, facade_factory, routes_doc, dead_url):
    doc = routes_doc(monolith[1].url, dead_url, mode="extracted")
    doc["upstreams"]["catalog"]["breaker"]["reset_timeout"] = 60  # stays open while we look
    facade = facade_factory(doc)
    for _ in range(3):  # failure_threshold 3; every read falls back to the monolith
        assert httpx.get(facade.url + "/api/products/1/").json()["upstream"] == "monolith"
    route = _route(_overview(facade.url), "products")
    assert route["breakers"]["catalog"] == "open"
    assert route["sides"]["catalog"]["failovers"] == 3


def test_overview_needs_the_admin_token(facade) -> None:
    resp = httpx.get(facade.url + "/_strangler/api/overview")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    resp = httpx.get(
        facade.url + "/_strangler/api/overview", headers={"Authorization": "Bearer nope"}
    )
    assert resp.status_code == 403


def test_the_page_and_its_assets_are_served(facade) -> None:
    url = facade.url
    resp = httpx.get(url + "/_strangler")
    assert resp.status_code == 308
    assert resp.headers["location"] == "/_strangler/"
    page = httpx.get(url + "/_strangler", follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script src="dashboard.js" defer></script>' in page.text
    script = httpx.get(url + "/_strangler/dashboard.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "innerHTML" not in script.text
    assert (
        httpx.get(url + "/_strangler/dashboard.css").headers["content-type"].startswith("text/css")
    )
    # The page needs no token: it holds nothing until the user gives one to the API.
    assert httpx.get(url + "/_strangler/index.html").status_code == 200
    assert httpx.get(url + "/_strangler/secrets.txt").status_code == 404
    assert httpx.post(url + "/_strangler/").status_code == 405
    assert httpx.head(url + "/_strangler/").status_code == 200
    # Neither the page nor the overview is proxied: the upstreams never see them.
    assert httpx.get(url + "/_stranglerx").json()["upstream"] == "monolith"
