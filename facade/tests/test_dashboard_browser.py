"""The dashboard in headless Chromium, against a real facade with real upstreams.

Chromium is Debian's (``make setup`` installs it through ``scripts/ensure-chromium``);
playwright only drives it. A missing browser fails the test: a skip would hide it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ADMIN_TOKEN = "test-admin-token"  # conftest's facade_factory runs the facade with it
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# As the machine notes require for this closed network: no background connections.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".state" / "test-artifacts"
WAIT_MS = 10_000


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `make setup` (scripts/ensure-chromium "
            "installs it) or `sudo apt-get install -y chromium`, or set CHROMIUM to a "
            "Chromium binary",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        # A persistent context on a fresh profile directory: the explicit, empty
        # --user-data-dir the browser wants here, gone with tmp_path.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            assert context.browser is None or context.browser.is_connected()
            yield context  # type: ignore[misc]
        finally:
            context.close()


def _side(page: Page, route: str, side: str, col: str) -> Any:
    return page.locator(f'tbody[data-route="{route}"] tr[data-side="{side}"] td[data-col="{col}"]')


def test_toggle_a_route_to_the_candidate_from_the_dashboard(
    monolith, catalog, facade_factory, routes_doc, tmp_path, monkeypatch, browser
) -> None:
    # The contract gate on, with no pact: moving traffic is refused unless forced.
    monkeypatch.setenv("FACADE_CONTRACT_GATE", "on")
    monkeypatch.setenv("FACADE_CONTRACT_PACTS_DIR", str(tmp_path / "no-pacts"))
    monkeypatch.setenv("FACADE_CONTRACT_LEDGER", str(tmp_path / "ledger.json"))
    facade = facade_factory(routes_doc(monolith[1].url, catalog[1].url))
    url = facade.url
    for _ in range(5):
        assert httpx.get(url + "/api/products/1/").json()["upstream"] == "monolith"

    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    page.goto(url + "/_strangler")
    assert page.url == url + "/_strangler/"

    # A wrong token is said to be wrong, and the form comes back.
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#error")).to_contain_text("refused the admin token (HTTP 403)")
    expect(page.get_by_label("Admin token")).to_be_visible()

    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_label("Your name, for the audit log").fill("tester")
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#status")).to_contain_text("live")
    products = page.locator('tbody[data-route="products"]')
    expect(products.locator('td[data-col="mode"]')).to_have_text("monolith")
    expect(_side(page, "products", "monolith", "requests")).to_have_text("5")
    expect(_side(page, "products", "monolith", "share")).to_contain_text("100.0%")
    expect(_side(page, "products", "catalog", "requests")).to_have_text("0")
    expect(_side(page, "products", "catalog", "breaker")).to_have_text("closed")

    parity_there = httpx.get(url + "/_strangler/api/parity", headers=AUTH).status_code != 404
    if parity_there:
        # Shadow first: the monolith answers, the candidate's copies are compared, and the
        # two fake upstreams differ in who they say they are.
        page.get_by_label("Mode for products").select_option("shadow")
        products.get_by_role("button", name="Apply").click()
        expect(products.locator('td[data-col="mode"]')).to_have_text("shadow")
        for i in range(3):
            assert httpx.get(url + f"/api/products/{i}/").json()["upstream"] == "monolith"
        expect(products.locator('td[data-col="match"]')).to_contain_text("(0/3)")
        mismatches = page.locator('#parity [data-route="products"]')
        expect(mismatches).to_contain_text("3 compared")
        expect(mismatches).to_contain_text("GET /api/products/")
        expect(mismatches.locator("pre.diff").first).to_contain_text('"catalog"')
        before = 8
    else:
        expect(page.locator("#parity")).to_contain_text("no parity data")
        before = 5
    expect(_side(page, "products", "monolith", "requests")).to_have_text(str(before))

    # Through the UI: extracted, refused by the gate, then forced.
    was = "shadow" if parity_there else "monolith"
    page.get_by_label("Mode for products").select_option("extracted")
    products.get_by_role("button", name="Apply").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text("The contract gate refused products → extracted")
    expect(notice).to_contain_text("no pact covers route products")
    expect(products.locator('td[data-col="mode"]')).to_have_text(was)
    page.get_by_role("button", name="Force the change").click()
    expect(notice).to_contain_text("Applied: products → extracted (contract gate overridden)")
    expect(products.locator('td[data-col="mode"]')).to_have_text("extracted")

    # Real requests through the facade now reach the candidate, and the page says so.
    for i in range(7):
        assert httpx.get(url + f"/api/products/{i}/").json()["upstream"] == "catalog"
    expect(_side(page, "products", "catalog", "requests")).to_have_text("7")
    share = 7 / (7 + before)
    expect(_side(page, "products", "catalog", "share")).to_contain_text(f"{share:.1%}")
    expect(_side(page, "products", "monolith", "share")).to_contain_text(f"{1 - share:.1%}")
    expect(_side(page, "products", "catalog", "p50")).to_contain_text("ms")

    audit = page.locator("#audit")
    expect(audit).to_contain_text("FORCED OVERRIDE")
    expect(audit).to_contain_text("admin:dashboard:tester")
    expect(audit).to_contain_text(f"products: {was} → extracted")

    # The token lives in this tab only: not in the URL, not in a cookie.
    assert ADMIN_TOKEN not in page.url
    assert page.context.cookies() == []
    assert page.evaluate("sessionStorage.getItem('strangler.adminToken')") == ADMIN_TOKEN

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # The facade goes away: the page says so plainly instead of showing stale figures.
    facade.server.stop()
    expect(page.locator("#status")).to_have_text("offline")
    expect(page.locator("#error")).to_contain_text("cannot reach the facade")
