import httpx
import pytest

AUTH = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def facade(monolith, catalog, facade_factory, routes_doc):
    return facade_factory(routes_doc(monolith[1].url, catalog[1].url))


def test_refused_without_or_with_a_wrong_token(facade) -> None:
    resp = httpx.get(facade.url + "/_strangler/api/routes")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.headers["content-type"] == "application/problem+json"
    resp = httpx.put(
        facade.url + "/_strangler/api/routes/products",
        json={"mode": "extracted"},
        headers={"Authorization": "Bearer nope"},
    )
    assert resp.status_code == 403
    assert (
        httpx.get(facade.url + "/_strangler/api/routes/products", headers=AUTH).json()["mode"]
        == "monolith"
    )


def test_disabled_without_a_configured_token(monolith, catalog, facade_factory, routes_doc) -> None:
    f = facade_factory(routes_doc(monolith[1].url, catalog[1].url), admin_token=None)
    resp = httpx.get(f.url + "/_strangler/api/routes", headers=AUTH)
    assert resp.status_code == 503
    assert "FACADE_ADMIN_TOKEN" in resp.json()["detail"]


def test_set_mode_switches_traffic_and_is_audited(facade, tmp_path) -> None:
    url = facade.url
    assert httpx.get(url + "/api/products/").json()["upstream"] == "monolith"
    resp = httpx.put(
        url + "/_strangler/api/routes/products",
        json={"mode": "extracted"},
        headers={**AUTH, "X-Actor": "alice"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["serving"] == "catalog"
    assert httpx.get(url + "/api/products/").json()["upstream"] == "catalog"
    entries = httpx.get(url + "/_strangler/api/audit", headers=AUTH).json()["entries"]
    last = entries[0]
    assert last["who"] == "admin:alice"
    assert last["action"] == "set-route"
    assert last["old"]["routes"]["products"]["mode"] == "monolith"
    assert last["new"]["routes"]["products"]["mode"] == "extracted"
    assert "at" in last
    lines = (tmp_path / "routes.yaml.audit.jsonl").read_text().splitlines()
    assert '"who":"admin:alice"' in lines[-1]


def test_invalid_change_refused_with_a_precise_message_and_table_kept(facade) -> None:
    url = facade.url
    resp = httpx.put(url + "/_strangler/api/routes/products", json={"mode": "canary"}, headers=AUTH)
    assert resp.status_code == 422
    assert resp.json()["problems"] == [
        "routes[products].percent: canary needs a percent between 0 and 100"
    ]
    resp = httpx.put(
        url + "/_strangler/api/routes/products",
        json={"mode": "canary", "percent": 250},
        headers=AUTH,
    )
    assert resp.status_code == 422
    resp = httpx.put(url + "/_strangler/api/routes/nope", json={"mode": "extracted"}, headers=AUTH)
    assert resp.status_code == 404
    route = httpx.get(url + "/_strangler/api/routes/products", headers=AUTH).json()
    assert route["mode"] == "monolith"
    assert httpx.get(url + "/api/products/").json()["upstream"] == "monolith"
    audit = httpx.get(url + "/_strangler/api/audit", headers=AUTH).json()["entries"]
    assert audit[0]["result"] == "refused"


def test_canary_percent_and_match_endpoint(facade) -> None:
    resp = httpx.put(
        facade.url + "/_strangler/api/routes/products",
        json={"mode": "canary", "percent": 25},
        headers=AUTH,
    )
    assert resp.json()["percent"] == 25
    found = httpx.get(
        facade.url + "/_strangler/api/match",
        params={"method": "GET", "path": "/api/products/9/"},
        headers=AUTH,
    ).json()
    assert found["route"]["id"] == "products"
    assert found["route"]["mode"] == "canary"
