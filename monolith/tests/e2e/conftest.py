"""End-to-end fixtures: a real HTTP server and a cookie-keeping HTTP client.

Tests talk to the shop ONLY through ``shop_url`` (a base URL string) and HTTP. Here it is
pytest-django's ``live_server``; the lead reruns the same tests with ``shop_url`` pointing
through the facade. Test data is written through the shop's services into the database
that server uses.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from shop.catalog.services import category_create, product_create

PASSWORD = "e2e-pass-123"
STEP_1_ROUTES = Path(__file__).resolve().parents[3] / "migrations-plan/step-1-facade/routes.yaml"
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(params=["direct", "via-facade"])
def shop_url(request: pytest.FixtureRequest, live_server: Any) -> Iterator[str]:
    """The shop's base URL: the live server itself, then the same server behind the facade.

    Every end-to-end test runs both ways; that is the proof that putting the strangler
    facade in front changes nothing a user sees (step 1).
    """
    if request.param == "direct":
        yield str(live_server.url)
        return
    with facade_in_front_of(str(live_server.url), request.getfixturevalue("tmp_path")) as url:
        yield url


@contextlib.contextmanager
def facade_in_front_of(monolith_url: str, tmp_path: Path) -> Iterator[str]:
    """The step-1 routes file, pointed at ``monolith_url``, served by a real facade."""
    import uvicorn
    from facade.app import create_app
    from facade.settings import FacadeSettings

    routes = STEP_1_ROUTES.read_text()
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(routes)
    settings = FacadeSettings(
        routes_file=routes_file, admin_token=None, redis_url=None, access_log=False
    )
    os.environ["MONOLITH_URL"] = monolith_url  # the routes file reads ${MONOLITH_URL}
    try:
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=0,
            log_level="error",
            server_header=False,
            date_header=False,
            proxy_headers=False,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "the facade did not start"
            assert thread.is_alive(), "the facade exited while starting"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(timeout=15)
    finally:
        os.environ.pop("MONOLITH_URL", None)


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
