"""The identity bridge end to end: a real monolith (live server), a real facade, the real
catalog service, all on loopback; stand-in upstreams where what they received is the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
import psycopg
import pytest
from acl.catalog.domain import Money, Product, ProductStatus
from catalog_service.adapters.migrate import upgrade
from catalog_service.bootstrap import engine_for, http_app
from catalog_service.entrypoints.http.identity import TokenVerifier
from catalog_service.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from catalog_service.settings import Settings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.contrib.auth.models import User
from facade._headers import IncomingHeaders
from facade.identity import Identity, IdentityBridge, IdentityCache, TokenSigner, credential

from .conftest import ServerThread, routes_doc, wait_for
from .shadowlib import DocApp, upstream_starter

KEY = ed25519.Ed25519PrivateKey.generate()
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
VERIFIER = TokenVerifier(
    PUBLIC_PEM.encode(), issuer="strangler-facade", audience="catalog", leeway=0
)
PASSWORD = "bridge-pass-123"
HEADER = "x-strangler-identity"


def ok(method: str, path: str, n: int) -> tuple[int, Any]:
    return 200, {"ok": True}


@pytest.fixture
def upstreams(serve: Callable[..., ServerThread]) -> Callable[..., tuple[DocApp, str]]:
    return upstream_starter(serve)


@pytest.fixture
def users(transactional_db: None) -> dict[str, User]:
    make = User.objects.create_user
    return {
        "staff": make("clerk", "clerk@example.com", PASSWORD, is_staff=True),
        "alice": make("alice", "alice@example.com", PASSWORD),
        "bob": make("bob", "bob@example.com", PASSWORD),
    }


def bridge_settings(monolith_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "identity_private_key": PRIVATE_PEM,
        "identity_url": f"{monolith_url}/_internal/identity",
        **extra,
    }


@pytest.fixture
def bridged(live_server: Any, upstreams: Any, facade_factory: Any, users: Any) -> Any:
    """A facade whose /api/products/** goes to a recording stand-in of the catalog."""
    catalog, catalog_url = upstreams(ok)
    f = facade_factory(
        routes_doc(live_server.url, catalog_url, mode="extracted"),
        **bridge_settings(live_server.url),
    )
    f.catalog = catalog
    return f


@contextlib.contextmanager
def login(url: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=10) as client:
        resp = client.post("/api/auth/login/", json={"username": username, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        yield client


def received(f: Any) -> str | None:
    headers: dict[str, str] = f.catalog.requests[-1][2]
    return headers.get(HEADER)


def test_a_signed_in_user_reaches_the_extracted_service_with_a_signed_identity(
    bridged: Any, users: dict[str, User]
) -> None:
    with login(bridged.url, "clerk") as client:
        assert client.get("/api/auth/me/").status_code == 200
        assert len(bridged.app.identity.cache) == 0  # monolith routes never ask
        assert client.get("/api/products/").status_code == 200
        claims = verified_claims(received(bridged))
        assert claims["sub"] == str(users["staff"].pk)
        assert claims["staff"] is True
        assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == (
            "strangler-facade", "catalog", 60,
        )  # fmt: skip
        # The session cookie, not the token, is what the monolith was asked about: one
        # lookup, then the cache answers.
        assert client.get("/api/products/1/").status_code == 200
        assert received(bridged) is not None
        assert len(bridged.app.identity.cache) == 1


def verified_claims(token: str | None) -> dict[str, Any]:
    assert token is not None, "the extracted service got no identity"
    principal = VERIFIER.verify(token)
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    assert principal.user_id == int(claims["sub"])
    return claims


def test_api_token_clients_are_resolved_too(bridged: Any, users: dict[str, User]) -> None:
    resp = httpx.post(f"{bridged.url}/api/auth/token/",
                      json={"username": "alice", "password": PASSWORD})  # fmt: skip
    key = resp.json()["token"]
    resp = httpx.get(f"{bridged.url}/api/products/", headers={"Authorization": f"Token {key}"})
    assert resp.status_code == 200
    claims = verified_claims(received(bridged))
    assert (claims["sub"], claims["staff"]) == (str(users["alice"].pk), False)
    httpx.get(f"{bridged.url}/api/products/", headers={"Authorization": "Token wrong"})
    assert received(bridged) is None


def test_anonymous_requests_carry_no_identity_and_a_forged_one_is_stripped(
    bridged: Any, users: dict[str, User]
) -> None:
    forged = jwt.encode({"sub": str(users["staff"].pk), "staff": True, "aud": "catalog",
                         "iss": "strangler-facade"}, ed25519.Ed25519PrivateKey.generate(),
                        algorithm="EdDSA")  # fmt: skip
    assert httpx.get(f"{bridged.url}/api/products/").status_code == 200
    assert received(bridged) is None
    httpx.get(f"{bridged.url}/api/products/", headers={"X-Strangler-Identity": forged})
    assert received(bridged) is None
    # Signed in, the facade's own token replaces the client's.
    with login(bridged.url, "alice") as client:
        client.get("/api/products/", headers={"X-Strangler-Identity": forged})
        assert verified_claims(received(bridged))["sub"] == str(users["alice"].pk)


def test_logout_drops_the_cached_identity_at_once(bridged: Any, users: dict[str, User]) -> None:
    with login(bridged.url, "alice") as client:
        client.get("/api/products/")
        assert received(bridged) is not None
        old_session = client.cookies["sessionid"]
        assert len(bridged.app.identity.cache) == 1
        resp = client.post("/api/auth/logout/",
                           headers={"X-CSRFToken": client.cookies["csrftoken"]})  # fmt: skip
    assert resp.status_code == 204
    assert "x-strangler-identity-revoked" not in resp.headers  # meant for the facade only
    assert len(bridged.app.identity.cache) == 0

    # Even a client that keeps replaying the old cookie gets no identity any more.
    httpx.get(f"{bridged.url}/api/products/", cookies={"sessionid": old_session})
    assert received(bridged) is None


def test_the_identity_endpoint_is_not_reachable_through_the_facade(
    bridged: Any, live_server: Any, users: dict[str, User]
) -> None:
    with login(bridged.url, "clerk") as client:
        for path in ("/_internal/identity", "/%5Finternal/identity", "//_internal/identity"):
            resp = client.get(path)
            assert resp.status_code == 404, path
            assert "user_id" not in resp.text
        session = client.cookies["sessionid"]
    # Asked directly from a trusted address, without forwarding headers, it answers.
    resp = httpx.get(f"{live_server.url}/_internal/identity", cookies={"sessionid": session})
    assert resp.json()["user_id"] == users["staff"].pk


def test_cross_site_writes_to_the_monolith_still_need_the_csrf_token(
    bridged: Any, users: dict[str, User]
) -> None:
    forged = {"X-Strangler-Identity": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."}
    with login(bridged.url, "alice") as client:
        cross_site = {"Origin": "https://evil.example", **forged}
        resp = client.post("/api/cart/items/", json={"sku": "X"}, headers=cross_site)
        assert resp.status_code == 403
        assert "CSRF" in resp.json()["detail"]
        resp = client.post("/cart/add/", data={"product_id": "1"}, headers=cross_site)
        assert resp.status_code == 403
        # The same session with its CSRF token gets past the check (and on to validation).
        resp = client.post("/api/cart/items/", json={"sku": "X"},
                           headers={"X-CSRFToken": client.cookies["csrftoken"]})  # fmt: skip
        assert resp.status_code != 403


@pytest.fixture
def writes(live_server: Any, upstreams: Any, facade_factory: Any, users: Any) -> Any:
    """A facade whose /v2/products/** writes go to a recording stand-in of the catalog."""
    catalog, catalog_url = upstreams(ok)
    doc = routes_doc(live_server.url, catalog_url, id="writes", path="/v2/products/**",
                     methods=["POST", "PATCH"], mode="extracted")  # fmt: skip
    f = facade_factory(doc, **bridge_settings(live_server.url))
    f.catalog = catalog
    return f


def test_a_cross_site_cookie_write_to_an_extracted_service_is_refused(
    writes: Any, users: dict[str, User]
) -> None:
    with login(writes.url, "clerk") as client:
        token = client.cookies["csrftoken"]
        for headers in (
            {"Origin": "https://evil.example", "X-CSRFToken": token},
            {"Origin": writes.url},  # same site, no token: what a forged form would send
            {"Origin": writes.url, "X-CSRFToken": "w" * 32},
        ):
            resp = client.post("/v2/products", json={"sku": "X"}, headers=headers)
            assert resp.status_code == 403, resp.text
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["detail"].startswith("CSRF Failed: ")
    assert writes.catalog.requests == []  # the service never saw any of them


def test_the_same_write_with_its_csrf_token_reaches_the_service_as_staff(
    writes: Any, users: dict[str, User]
) -> None:
    with login(writes.url, "clerk") as client:
        token = client.cookies["csrftoken"]
        same_site = {"Origin": writes.url, "X-CSRFToken": token}
        resp = client.patch("/v2/products/7", json={"name": "Mug"}, headers=same_site)
        assert resp.status_code == 200, resp.text
        method, path, headers = writes.catalog.requests[-1]
        assert (method, path) == ("PATCH", "/v2/products/7")
        claims = verified_claims(headers.get(HEADER))
        assert (claims["sub"], claims["staff"]) == (str(users["staff"].pk), True)
        # The verdict is not kept: the next forged write with this session is refused
        # although its identity is cached by now.
        assert len(writes.app.identity.cache) == 1
        resp = client.patch("/v2/products/7", json={}, headers={"Origin": "https://evil.example"})
        assert resp.status_code == 403
        assert len(writes.catalog.requests) == 1


def test_api_token_writes_need_no_csrf(writes: Any, users: dict[str, User]) -> None:
    resp = httpx.post(f"{writes.url}/api/auth/token/",
                      json={"username": "clerk", "password": PASSWORD})  # fmt: skip
    auth = {"Authorization": f"Token {resp.json()['token']}", "Origin": "https://evil.example"}
    resp = httpx.post(f"{writes.url}/v2/products", json={"sku": "X"}, headers=auth)
    assert resp.status_code == 200, resp.text
    assert verified_claims(writes.catalog.requests[-1][2].get(HEADER))["staff"] is True
    # Anonymous writes carry no ambient credential either: the service decides (401).
    assert httpx.post(f"{writes.url}/v2/products", json={}).status_code == 200
    assert HEADER not in writes.catalog.requests[-1][2]


def test_the_cache_is_bounded(
    live_server: Any, upstreams: Any, facade_factory: Any, users: dict[str, User]
) -> None:
    _catalog, catalog_url = upstreams(ok)
    f = facade_factory(routes_doc(live_server.url, catalog_url, mode="extracted"),
                       **bridge_settings(live_server.url, identity_cache_size=2))  # fmt: skip
    for name in ("clerk", "alice", "bob"):
        with login(f.url, name) as client:
            assert client.get("/api/products/").status_code == 200
    assert len(f.app.identity.cache) == 2


def test_an_unreachable_monolith_degrades_to_anonymous(
    upstreams: Any, facade_factory: Any, dead_url: str
) -> None:
    catalog, catalog_url = upstreams(ok)
    _monolith, monolith_url = upstreams(ok)
    f = facade_factory(routes_doc(monolith_url, catalog_url, mode="extracted"),
                       **bridge_settings(dead_url))  # fmt: skip
    resp = httpx.get(f"{f.url}/api/products/", cookies={"sessionid": "abc"})
    assert resp.status_code == 200
    assert HEADER not in catalog.requests[-1][2]
    assert len(f.app.identity.cache) == 0  # a failed lookup is asked again next time


@pytest.mark.parametrize("bridge", [True, False], ids=["bridge on", "bridge off"])
def test_a_client_identity_header_never_reaches_any_upstream(
    upstreams: Any, facade_factory: Any, dead_url: str, bridge: bool
) -> None:
    catalog, catalog_url = upstreams(ok)
    monolith, monolith_url = upstreams(ok)
    for mode in ("extracted", "shadow"):
        # No learned-noise sampling: a second primary request would make the count random.
        doc = routes_doc(monolith_url, catalog_url, mode=mode, compare={"noise_sample_rate": 0})
        f = facade_factory(doc, name=f"{mode}.yaml",
                           **(bridge_settings(dead_url) if bridge else {}))  # fmt: skip
        for path in ("/api/products/", "/cart/", "/admin/"):
            httpx.get(f"{f.url}{path}", headers={"X-Strangler-Identity": "forged"})
    wait_for(lambda: len(catalog.requests) == 2, 10, "the shadow copy")
    seen = [h for _m, _p, h in monolith.requests + catalog.requests]
    assert len(seen) == 7
    assert all(HEADER not in headers for headers in seen)


def test_shadow_copies_carry_the_identity_and_the_monolith_gets_none(
    live_server: Any, upstreams: Any, facade_factory: Any, users: dict[str, User]
) -> None:
    catalog, catalog_url = upstreams(ok)
    f = facade_factory(routes_doc(live_server.url, catalog_url, mode="shadow"),
                       **bridge_settings(live_server.url))  # fmt: skip
    with login(f.url, "clerk") as client:
        assert client.get("/api/products/").status_code == 200
    wait_for(lambda: catalog.requests, 10, "the shadow copy")
    assert verified_claims(catalog.requests[-1][2].get(HEADER))["aud"] == "catalog"


# -- the real catalog service behind the facade ------------------------------------------


@pytest.fixture
def catalog_service(serve: Callable[..., ServerThread]) -> Iterator[str]:
    """The real catalog app on loopback, on a throwaway migrated database, one hidden product."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = f"catalog_identity_{uuid.uuid4().hex[:10]}"
    url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        upgrade(url)
        engine = engine_for(url)
        with SqlAlchemyUnitOfWork(engine) as uow:
            uow.products.upsert_many([hidden_product()])
            uow.commit()
        engine.dispose()
        settings = Settings(database_url=url, pool_min_size=1, pool_max_size=2,
                            identity_public_key=PUBLIC_PEM)  # fmt: skip
        yield serve(http_app(settings)).url
    finally:
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def hidden_product() -> Product:
    from datetime import UTC, datetime

    moment = datetime(2024, 5, 1, 8, tzinfo=UTC)
    return Product(legacy_id=46, sku="SKU-000046", name="Hidden mug", description=None,
                   category_legacy_id=None, price=Money(1250, "EUR"),
                   status=ProductStatus.HIDDEN, stock=3, attributes=(), weight_grams=None,
                   created_at=moment, updated_at=moment, version=1)  # fmt: skip


def test_the_catalog_staff_endpoint_through_the_facade(
    live_server: Any, catalog_service: str, facade_factory: Any, users: dict[str, User]
) -> None:
    doc = routes_doc(live_server.url, catalog_service, path="/v2/**", mode="extracted")
    f = facade_factory(doc, **bridge_settings(live_server.url))
    url = "/v2/staff/products/46"

    resp = httpx.get(f"{f.url}{url}")
    assert resp.status_code == 401
    assert resp.json()["type"].endswith("not-authenticated")
    other_key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    staff = Identity(str(users["staff"].pk), True, ())
    forged = TokenSigner(other_key, issuer="strangler-facade", ttl=60).sign(
        staff, "catalog", time.time()
    )
    assert httpx.get(f"{f.url}{url}", headers={HEADER: forged}).status_code == 401

    with login(f.url, "alice") as client:
        resp = client.get(url)
        assert resp.status_code == 403
        assert resp.json()["type"].endswith("forbidden")
    with login(f.url, "clerk") as client:
        resp = client.get(url)
        assert resp.status_code == 200, resp.text
        assert (resp.json()["id"], resp.json()["status"]) == (46, "hidden")
        # A write passes the facade's CSRF check and the service's staff check; a new
        # service is frozen until the ownership switch, so it answers 423.
        resp = client.patch("/v2/products/46", json={"name": "Mug"},
                            headers={"X-CSRFToken": client.cookies["csrftoken"]})  # fmt: skip
        assert resp.status_code == 423, resp.text
        assert client.patch("/v2/products/46", json={"name": "Mug"}).status_code == 403


# -- the parts on their own ---------------------------------------------------------------


def test_cache_is_an_lru_with_a_lifetime() -> None:
    now = [0.0]
    cache = IdentityCache(size=2, ttl=30, clock=lambda: now[0])
    alice = Identity("1", False, ())
    cache.put(b"a", alice)
    cache.put(b"b", None)
    assert cache.get(b"a") is not None  # a is now the most recently used
    cache.put(b"c", alice)
    assert (cache.get(b"b"), len(cache)) == (None, 2)
    now[0] = 30.0
    assert (cache.get(b"a"), cache.get(b"c"), len(cache)) == (None, None, 0)
    assert len(IdentityCache(size=2, ttl=0).put(b"x", alice).tokens) == 0


def test_the_token_wins_over_the_session_and_the_key_is_a_hash() -> None:
    both = IncomingHeaders(forward=[(b"authorization", b"Token abc")],
                           cookie=b"csrftoken=x; sessionid=s3cret")  # fmt: skip
    cred = credential(both, "sessionid")
    assert cred is not None
    assert cred.header == (b"authorization", b"Token abc")
    session = credential(IncomingHeaders(cookie=b"csrftoken=x; sessionid=s3cret"), "sessionid")
    assert session is not None
    assert session.header == (b"cookie", b"sessionid=s3cret")
    assert b"s3cret" not in session.key
    bearer = IncomingHeaders(forward=[(b"authorization", b"Bearer abc")])
    assert credential(bearer, "sessionid") is None


def test_concurrent_misses_share_one_lookup_and_tokens_are_reused() -> None:
    calls: list[bytes] = []

    async def lookup(cred: Any, rid: bytes) -> Identity:
        calls.append(cred.key)
        await asyncio.sleep(0)
        return Identity("9", False, ("catalog.view_product",))

    async def main() -> list[Any]:
        bridge = IdentityBridge(TokenSigner(PRIVATE_PEM.encode(), issuer="strangler-facade",
                                            ttl=60), lookup, cache_size=10, cache_ttl=30,
                                cookie_name="sessionid")  # fmt: skip
        incoming = IncomingHeaders(cookie=b"sessionid=one")
        return list(
            await asyncio.gather(*(bridge.header(incoming, "catalog", b"r") for _ in range(5)))
        )

    headers = asyncio.run(main())
    assert len(calls) == 1
    assert len({h[1] for h in headers}) == 1
    assert verified_claims(headers[0][1].decode())["scopes"] == ["catalog.view_product"]
