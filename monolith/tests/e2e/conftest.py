"""End-to-end fixtures: a real HTTP server and a cookie-keeping HTTP client.

Tests talk to the shop ONLY through ``shop_url`` (a base URL string) and HTTP. Here it is
pytest-django's ``live_server``; the lead reruns the same tests with ``shop_url`` pointing
through the facade. Test data is written through the shop's services into the database
that server uses.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from shop.catalog.services import category_create, product_create

PASSWORD = "e2e-pass-123"
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def shop_url(live_server: Any) -> str:
    return str(live_server.url)


class Browser:
    """httpx with the habits of a browser: cookies, Referer/Origin, CSRF from the last form."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.client = httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=30)
        self.page = ""
        self.url = self.base_url + "/"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.get(path, headers={"Referer": self.url}, **kwargs)
        self.page, self.url = response.text, str(response.url)
        return response

    def follow(self, response: httpx.Response) -> httpx.Response:
        """Follow redirects one by one (Location must stay on our own host)."""
        for _ in range(10):
            if not response.is_redirect:
                return response
            target = urljoin(str(response.url), response.headers["Location"])
            assert target.startswith(self.origin), f"redirect left the site: {target}"
            response = self.get(target[len(self.origin) :])
        raise AssertionError("too many redirects")

    def csrf_token(self) -> str:
        match = TOKEN_RE.search(self.page)
        assert match, "no CSRF token in the current page"
        return html.unescape(match.group(1))

    def post_form(self, path: str, data: dict[str, Any]) -> httpx.Response:
        form = {"csrfmiddlewaretoken": self.csrf_token(), **data}
        response = self.client.post(
            path, data=form, headers={"Referer": self.url, "Origin": self.origin}
        )
        self.page, self.url = response.text, str(response.url)
        return response

    def hidden(self, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', self.page) or re.search(
            rf'value="([^"]*)" name="{name}"', self.page
        )
        assert match, f"no hidden field {name}"
        return html.unescape(match.group(1))

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def browser(shop_url: str) -> Iterator[Browser]:
    b = Browser(shop_url)
    yield b
    b.close()


@pytest.fixture
def shop_data(transactional_db: None) -> dict[str, Any]:
    kitchen = category_create(name="Kitchen", slug="kitchen")
    mugs = category_create(name="Mugs", slug="mugs", parent=kitchen)
    mug = product_create(
        sku="E2E-MUG",
        name="Enamel Camping Mug",
        price="9.90",
        category=mugs,
        stock=20,
        attributes={"color": "forest green"},
        description="Tough enamel mug.",
    )
    lamp = product_create(sku="E2E-LAMP", name="Brass Desk Lamp", price="59.00", stock=3)
    customer = User.objects.create_user("erin", "erin@example.com", PASSWORD)
    staff = User.objects.create_user("stan", "stan@example.com", PASSWORD, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="catalog"))
    return {"mug": mug, "lamp": lamp, "customer": customer, "staff": staff}
