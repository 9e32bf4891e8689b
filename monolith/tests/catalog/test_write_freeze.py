"""The write freeze of step 4: catalog writes refused with a typed error, nothing lost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client
from shop.catalog import services
from shop.catalog.models import Product
from shop.core.errors import CatalogWritesMoved

URL = "/api/products/"


@pytest.fixture
def admin_browser(staff):  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(staff)
    return client


def outbox_rows() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM outbox")
        return int(cur.fetchone()[0])


@pytest.fixture
def frozen(db: None) -> Iterator[None]:
    with connection.cursor() as cur:
        cur.execute("UPDATE catalog_write_freeze SET frozen = true")
    yield
    with connection.cursor() as cur:
        cur.execute("UPDATE catalog_write_freeze SET frozen = false")


def test_unfrozen_by_default(product: Product) -> None:
    assert str(services.product_update(product=product, price="9.99").prc) == "9.99"


def test_service_functions_refuse_while_frozen(product: Product, frozen: None) -> None:
    before = outbox_rows()
    with pytest.raises(CatalogWritesMoved):
        services.product_update(product=product, price="9.99")
    with pytest.raises(CatalogWritesMoved):
        services.product_create(sku="NEW-1", name="New", price="1.00")
    with pytest.raises(CatalogWritesMoved):
        services.product_bulk_set_status(product_ids=[product.pk], status="H")
    with pytest.raises(CatalogWritesMoved):
        services.product_delete(product=product)
    product.refresh_from_db()
    assert (str(product.prc), product.st) == ("12.50", "A")
    assert outbox_rows() == before


def test_api_answers_423_problem(staff_api, product, frozen, assert_problem) -> None:  # type: ignore[no-untyped-def]
    body = assert_problem(staff_api.patch(f"{URL}{product.pk}/", {"price": "1.00"},
                                          format="json"), 423)  # fmt: skip
    assert body["type"].endswith("/catalog-writes-moved")
    assert body["title"] == "Catalog writes have moved to the catalog service"
    product.refresh_from_db()
    assert str(product.prc) == "12.50"


def test_admin_shows_a_readable_message(admin_browser, make_product, frozen) -> None:  # type: ignore[no-untyped-def]
    with connection.cursor() as cur:
        cur.execute("UPDATE catalog_write_freeze SET frozen = false")
    ids = [make_product().pk]
    with connection.cursor() as cur:
        cur.execute("UPDATE catalog_write_freeze SET frozen = true")
    response = admin_browser.post(
        "/admin/catalog/product/", {"action": "make_hidden", "_selected_action": ids}, follow=True
    )
    assert response.status_code == 200
    assert "moved to the catalog service" in response.content.decode()
    assert Product.objects.get(pk=ids[0]).st == "A"


def test_the_product_admin_is_read_only_with_a_pointer_while_frozen(  # type: ignore[no-untyped-def]
    admin_browser, make_product, frozen
) -> None:
    with connection.cursor() as cur:
        cur.execute("UPDATE catalog_write_freeze SET frozen = false")
    product = make_product()
    with connection.cursor() as cur:
        cur.execute("UPDATE catalog_write_freeze SET frozen = true")
    listing = admin_browser.get("/admin/catalog/product/").content.decode()
    assert "Products are edited in the catalog service now" in listing
    assert 'href="/v2/products"' in listing
    assert "/admin/catalog/product/add/" not in listing
    page = admin_browser.get(f"/admin/catalog/product/{product.pk}/change/")
    assert page.status_code == 200  # still there to look things up
    assert 'name="_save"' not in page.content.decode()
    refused = admin_browser.post(f"/admin/catalog/product/{product.pk}/change/",
                                 {"nm": "Changed"})  # fmt: skip
    assert refused.status_code == 403
    product.refresh_from_db()
    assert product.nm != "Changed"
