from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from acl.catalog.domain import Attribute, Category, CategoryRef, Money, Product, ProductStatus
from acl.catalog.legacy_json import product_to_legacy_json, render
from catalog_service.bootstrap import http_app
from catalog_service.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from catalog_service.settings import Settings
from sqlalchemy import Engine

BASE = datetime(2024, 5, 1, 8, tzinfo=UTC)
KITCHEN = Category(1, "Kitchen", "kitchen", None, 0, 1)
CUPS = Category(3, "Cups", "cups", 1, 0, 1)
GARDEN = Category(2, "Garden", "garden", None, 1, 1)


def product(legacy_id: int, **changes: object) -> Product:
    base = Product(
        legacy_id=legacy_id, sku=f"SKU-{legacy_id:06d}", name=f"Product {legacy_id:03d}",
        description=f"about {legacy_id}", category_legacy_id=3 if legacy_id % 2 else 2,
        price=Money(100 * (50 - legacy_id), "EUR"), status=ProductStatus.ACTIVE,
        stock=legacy_id % 3, attributes=(Attribute("n", str(legacy_id)),), weight_grams=None,
        created_at=BASE + timedelta(hours=legacy_id), updated_at=BASE, version=1,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


CATALOG = [product(i) for i in range(1, 46)] + [
    product(46, status=ProductStatus.HIDDEN),
    product(47, sku="SKU-LEGACY", legacy_sku=" sku-legacy ", legacy_currency="eur",
            name="Weird “mug”\u2028", description=None, category_legacy_id=None),
]  # fmt: skip


@pytest.fixture
def client(clean: Engine, catalog_url: str) -> Iterator[SyncClient]:
    with SqlAlchemyUnitOfWork(clean) as uow:
        uow.categories.upsert_many([KITCHEN, CUPS, GARDEN])
        uow.products.upsert_many(CATALOG)
        uow.commit()
    app = http_app(Settings(database_url=catalog_url, pool_min_size=1, pool_max_size=4))
    test_client = SyncClient(app)
    try:
        yield test_client
    finally:
        test_client.close()


class SyncClient:
    """A synchronous facade over httpx's in-process ASGI transport (no sockets, no ports).

    One private event loop runs the app's lifespan (the async connection pool) and every
    request, so the pool and the requests share a loop.
    """

    def __init__(self, app: object) -> None:
        self._loop = asyncio.new_event_loop()
        self._app = app
        self._lifespan = app.router.lifespan_context(app)  # type: ignore[attr-defined]
        self._loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self._loop.run_until_complete(self._client.get(url, **kwargs))  # type: ignore[arg-type]

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self._loop.close()


def ref(p: Product) -> CategoryRef | None:
    return {3: CategoryRef(3, "Cups", "cups"), 2: CategoryRef(2, "Garden", "garden")}.get(
        p.category_legacy_id or 0
    )


def test_detail_bytes_are_the_legacy_bytes(client: SyncClient) -> None:
    weird = CATALOG[-1]
    response = client.get("/api/products/47/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == render(product_to_legacy_json(weird, None))
    assert b"\\u2028" in response.content
    assert response.json()["sku"] == " sku-legacy "


def test_list_first_page_and_links(client: SyncClient) -> None:
    response = client.get("/api/products/?search=&page_size=oops")
    body = response.json()
    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 46  # the hidden one is not listed
    assert len(body["results"]) == 20
    assert body["previous"] is None
    assert body["next"] == "http://testserver/api/products/?page=2&page_size=oops&search="
    first = CATALOG[0]
    assert json.dumps(body["results"][0]) == json.dumps(product_to_legacy_json(first, ref(first)))


def test_links_follow_forwarded_host_and_proto(client: SyncClient) -> None:
    headers = {"X-Forwarded-Host": "shop.example.com", "X-Forwarded-Proto": "https"}
    body = client.get("/api/products/?page=2&page_size=10", headers=headers).json()
    assert body["next"] == "https://shop.example.com/api/products/?page=3&page_size=10"
    assert body["previous"] == "https://shop.example.com/api/products/?page_size=10"
    last = client.get("/api/products/?page=last&page_size=100").json()
    assert last["next"] is None
    assert len(last["results"]) == 46


def test_filters_and_ordering(client: SyncClient) -> None:
    cups = client.get("/api/products/?category=kitchen&page_size=100").json()
    assert cups["count"] == 23  # odd ids are in Cups, below Kitchen
    assert all(p["category"]["slug"] == "cups" for p in cups["results"])
    found = client.get("/api/products/?search=%20LEGACY%20").json()
    assert [p["id"] for p in found["results"]] == [47]
    cheap = client.get("/api/products/?ordering=price&page_size=3").json()["results"]
    assert [p["id"] for p in cheap] == [47, 45, 44]
    newest = client.get("/api/products/?ordering=-created&page_size=2").json()["results"]
    assert [p["id"] for p in newest] == [47, 45]
    assert client.get("/api/products/?search=100%25").json()["count"] == 0


def test_sku_lookup_is_case_insensitive_and_stripped(client: SyncClient) -> None:
    assert client.get("/api/products/sku/%20sku-000003%20/").json()["id"] == 3
    assert client.get("/api/products/sku/sku-legacy/").json()["id"] == 47
    missing = client.get("/api/products/sku/nope/")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Product with SKU 'NOPE' not found."


@pytest.mark.parametrize(
    ("url", "status", "slug", "detail"),
    [
        ("/api/products/?page=99", 404, "not-found", "Invalid page."),
        ("/api/products/?page=0", 404, "not-found", "Invalid page."),
        ("/api/products/?page=abc", 404, "not-found", "Invalid page."),
        ("/api/products/?ordering=sku", 400, "validation-error", "Unknown ordering 'sku'."),
        ("/api/products/?category=nope", 400, "validation-error", "Unknown category 'nope'."),
        ("/api/products/?search=a%00b", 400, "validation-error", "Some fields are invalid."),
        ("/api/products/46/", 404, "not-found", "Product 46 not found."),
        ("/api/products/99999999999/", 404, "not-found", "Product 99999999999 not found."),
        ("/api/products/abc/", 404, "not-found", "No API endpoint at /api/products/abc/."),
        ("/api/categories/nope/", 404, "not-found", "No category with slug 'nope'."),
        ("/v2/products?limit=0", 400, "validation-error", "Some fields are invalid."),
        ("/v2/products?cursor=!!", 400, "validation-error", "Some fields are invalid."),
        ("/v2/products/abc", 400, "validation-error", "Some fields are invalid."),
        ("/v2/products/46", 404, "not-found", "Product 46 not found."),
        ("/nowhere", 404, "not-found", "No API endpoint at /nowhere."),
    ],
)
def test_bad_input_gets_problem_details(
    client: SyncClient, url: str, status: int, slug: str, detail: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert list(body)[:5] == ["type", "title", "status", "detail", "instance"]
    assert body["type"] == f"https://shop.example.com/problems/{slug}"
    assert body["detail"] == detail
    assert body["status"] == status


def test_validation_problem_lists_fields(client: SyncClient) -> None:
    body = client.get("/api/products/?ordering=bad").json()
    assert body["title"] == "Invalid input"
    assert body["errors"] == {
        "ordering": ["Use one of: price, -price, name, -name, created, -created."]
    }
    assert client.get("/v2/products?limit=500").json()["errors"].keys() == {"limit"}


def test_missing_slash_redirects_like_django(client: SyncClient) -> None:
    response = client.get("/api/products?page=2", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/api/products/?page=2"


def test_categories(client: SyncClient) -> None:
    assert client.get("/api/categories/").content == (
        b'[{"id":1,"name":"Kitchen","slug":"kitchen","parent":null,"path":"Kitchen"},'
        b'{"id":3,"name":"Cups","slug":"cups","parent":1,"path":"Kitchen / Cups"},'
        b'{"id":2,"name":"Garden","slug":"garden","parent":null,"path":"Garden"}]'
    )
    detail = client.get("/api/categories/kitchen/").json()
    assert detail["children"] == [
        {"id": 3, "name": "Cups", "slug": "cups", "parent": 1, "path": "Kitchen / Cups"}
    ]


def test_v2(client: SyncClient) -> None:
    page = client.get("/v2/products?limit=30").json()
    assert len(page["items"]) == 30
    assert page["next_cursor"]
    rest = client.get(f"/v2/products?limit=30&cursor={page['next_cursor']}").json()
    assert len(rest["items"]) == 16
    assert rest["next_cursor"] is None
    one = client.get("/v2/products/47").json()
    assert one["price"] == {"amount_minor": 100 * 3, "currency": "EUR", "amount": "3.00"}
    assert one["status"] == "active"
    assert one["sku"] == "SKU-LEGACY"
    assert one["created_at"].endswith("Z")
    tree = client.get("/v2/categories").json()
    assert [c["path"] for c in tree] == ["Kitchen", "Kitchen / Cups", "Garden"]


def test_health_ready_and_metrics(client: SyncClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    client.get("/api/products/3/")
    client.get("/api/products/abc/")
    metrics = client.get("/metrics").text
    assert 'route="/api/products/{product_id}/",status="200"' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
