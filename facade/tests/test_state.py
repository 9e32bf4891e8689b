"""Hot reload (file and API) under load, invalid files, and replicas converging via Redis."""

import os
import threading
import time
import uuid

import httpx
import yaml

AUTH = {"Authorization": "Bearer test-admin-token"}


def test_hot_reload_under_load_drops_nothing(monolith, catalog, facade_factory, routes_doc) -> None:
    doc = routes_doc(monolith[1].url, catalog[1].url)
    f = facade_factory(doc)
    stop = threading.Event()
    failures: list[str] = []
    seen: set[str] = set()
    count = [0]

    def hammer() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    resp = client.get(f.url + "/api/products/1/")
                    if resp.status_code != 200:
                        failures.append(f"{resp.status_code} {resp.text[:100]}")
                    else:
                        seen.add(resp.json()["upstream"])
                    count[0] += 1
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            mode = "extracted" if i % 2 == 0 else "monolith"
            if i % 3 == 2:
                resp = httpx.put(
                    f.url + "/_strangler/api/routes/products", json={"mode": mode}, headers=AUTH
                )
                assert resp.status_code == 200
            else:
                doc["routes"][0]["mode"] = mode
                f.routes_file.write_text(yaml.safe_dump(doc))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                got = httpx.get(f.url + "/_strangler/api/routes/products", headers=AUTH).json()[
                    "mode"
                ]
                if got == mode:
                    break
                time.sleep(0.02)
            assert got == mode
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert failures == []
    assert count[0] > 20
    assert seen == {"monolith", "catalog"}


def test_invalid_file_refused_old_table_kept(monolith, catalog, facade_factory, routes_doc) -> None:
    doc = routes_doc(monolith[1].url, catalog[1].url)
    f = facade_factory(doc)
    bad = routes_doc(monolith[1].url, catalog[1].url, mode="extracted", upstream="ghost")
    f.routes_file.write_text(yaml.safe_dump(bad))
    resp = httpx.post(f.url + "/_strangler/api/reload", headers=AUTH)
    assert resp.status_code == 422
    assert resp.json()["problems"] == ["routes[products].upstream: unknown upstream 'ghost'"]
    assert httpx.get(f.url + "/api/products/").json()["upstream"] == "monolith"
    version = httpx.get(f.url + "/_strangler/api/routes", headers=AUTH).json()["version"]
    assert version == 1
    entries = httpx.get(f.url + "/_strangler/api/audit", headers=AUTH).json()["entries"]
    assert entries[0]["result"] == "refused"
    assert entries[0]["problems"] == ["routes[products].upstream: unknown upstream 'ghost'"]


def test_two_replicas_converge_through_redis(monolith, catalog, facade_factory, routes_doc) -> None:
    prefix = f"test:facade:{uuid.uuid4().hex}"
    redis_url = os.environ["REDIS_URL"]
    doc = routes_doc(monolith[1].url, catalog[1].url)
    a = facade_factory(doc, name="a.yaml", redis_url=redis_url, redis_prefix=prefix)
    b = facade_factory(doc, name="b.yaml", redis_url=redis_url, redis_prefix=prefix)
    resp = httpx.put(
        a.url + "/_strangler/api/routes/products", json={"mode": "extracted"}, headers=AUTH
    )
    assert resp.status_code == 200
    changed = time.monotonic()
    while httpx.get(b.url + "/api/products/").json()["upstream"] != "catalog":
        assert time.monotonic() - changed < 1.0, "replica b did not converge within one second"
        time.sleep(0.01)
    # and back, from the other replica
    httpx.put(b.url + "/_strangler/api/routes/products", json={"mode": "monolith"}, headers=AUTH)
    changed = time.monotonic()
    while httpx.get(a.url + "/api/products/").json()["upstream"] != "monolith":
        assert time.monotonic() - changed < 1.0, "replica a did not converge within one second"
        time.sleep(0.01)
    audit_b = httpx.get(b.url + "/_strangler/api/audit", headers=AUTH).json()["entries"]
    assert [e["action"] for e in audit_b[:2]] == ["set-route", "set-route"]  # shared audit log
