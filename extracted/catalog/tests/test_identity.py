"""The identity dependency: only the facade's signed, fresh token for this service counts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from acl.catalog.domain import ProductStatus
from catalog_service.bootstrap import http_app
from catalog_service.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from catalog_service.settings import Settings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import Engine

from .test_api import CUPS, GARDEN, KITCHEN, SyncClient, product

KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_KEY = ed25519.Ed25519PrivateKey.generate()
URL = "/v2/staff/products/46"  # hidden: the public API answers 404 for it


def public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def token(key: Any = KEY, algorithm: str = "EdDSA", **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "7", "staff": True, "scopes": ["catalog.view_product"],
                              "iat": now, "exp": now + 60, "iss": "strangler-facade",
                              "aud": "catalog"}  # fmt: skip
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm)


def make_client(engine: Engine, catalog_url: str, **settings: Any) -> SyncClient:
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.categories.upsert_many([KITCHEN, CUPS, GARDEN])
        uow.products.upsert_many(
            [product(1), product(46, status=ProductStatus.HIDDEN, legacy_sku=" sku-000046 ")]
        )
        uow.commit()
    return SyncClient(http_app(Settings(database_url=catalog_url, pool_min_size=1,
                                        pool_max_size=2, **settings)))  # fmt: skip


@pytest.fixture
def client(clean: Engine, catalog_url: str) -> Iterator[SyncClient]:
    test_client = make_client(clean, catalog_url, identity_public_key=public_pem(KEY))
    yield test_client
    test_client.close()


def problem(resp: Any, status: int, slug: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    assert body["type"].endswith(slug)
    return body


def get(client: SyncClient, value: str | None) -> Any:
    headers = {} if value is None else {"X-Strangler-Identity": value}
    return client.get(URL, headers=headers)


def test_a_staff_token_reads_a_hidden_product_with_its_legacy_spelling(client) -> None:
    assert client.get("/v2/products/46").status_code == 404
    resp = get(client, token())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["id"], body["status"], body["legacy_sku"]) == (46, "hidden", " sku-000046 ")


def test_missing_token_is_401(client) -> None:
    problem(get(client, None), 401, "not-authenticated")
    problem(get(client, ""), 401, "not-authenticated")


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("signed with another key", token(OTHER_KEY)),
        ("expired", token(iat=int(time.time()) - 300, exp=int(time.time()) - 60)),
        ("for another audience", token(aud="orders")),
        ("from another issuer", token(iss="someone-else")),
        ("without exp", token(exp=None)),
        ("unsigned", jwt.encode({"sub": "7", "staff": True}, None, algorithm="none")),
        ("tampered", token()[:-4] + "AAAA"),
        ("garbage", "not-a-jwt"),
        ("non-numeric subject", token(sub="admin")),
    ],
)
def test_an_untrustworthy_token_is_401(client, label: str, value: str) -> None:
    body = problem(get(client, value), 401, "authentication-failed")
    assert "token" in body["detail"], label


def test_an_es256_token_from_another_curve_key_is_refused(client) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    problem(get(client, token(p256, "ES256")), 401, "authentication-failed")


def test_a_signed_in_user_who_is_not_staff_is_403(client) -> None:
    problem(get(client, token(staff=False)), 403, "forbidden")


def test_es256_keys_work_too(clean: Engine, catalog_url: str) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    es_client = make_client(clean, catalog_url, identity_public_key=public_pem(p256))
    try:
        assert get(es_client, token(p256, "ES256")).status_code == 200
        problem(get(es_client, token()), 401, "authentication-failed")  # the EdDSA key
    finally:
        es_client.close()


def test_without_a_configured_key_protected_endpoints_are_unavailable(
    clean: Engine, catalog_url: str
) -> None:
    bare = make_client(clean, catalog_url)
    try:
        problem(get(bare, token()), 503, "identity-unavailable")
        assert bare.get("/v2/products/1").status_code == 200  # public reads need nothing
    finally:
        bare.close()
