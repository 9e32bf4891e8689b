"""The walk through the migration steps that `make demo` and `make demo-check` run.

On a running stack (the runner's facade starts at step 1), one step after the other:

1. step 1: the facade in front of everything (`strangler step apply 1`), the status;
2. step 2: catalog reads shadowed; shop traffic from many simulated users goes through
   the facade; the parity report per route (every read compared with the service's);
3. the contracts verified (`strangler contracts verify`: consumer pacts, then the
   monolith and the service as providers) and the matrix;
4. step 3: the gates (contracts + parity), then the reads canaried; the facade's ramp
   takes them 5 -> 25 -> 50 -> 100 % -> extracted while traffic flows, or rolls them
   back by itself; the walk waits (bounded) and shows each advance;
5. step 4: catalog writes move to the service (`strangler step apply 4`, which switches
   write ownership); the seeded admin signs in to the storefront through the facade as a
   browser does and changes a price with `PATCH /v2/products/{id}` (session cookie and
   CSRF token; a cross-site copy of the request is refused), the monolith's legacy write
   API answers 423, and the walk waits (bounded) until the monolith shows the new price
   on its product page and a new order placed through its checkout API carries it.

Every command is the one a person would type (`strangler step ...` runs in a
subprocess, so its output is what they would see). Each stage returns an outcome;
`demo-check` exits 1 when any failed.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from strangler import ownership
from strangler.config import REPO_ROOT, StackConfig

READ_ROUTES = ("catalog-products", "catalog-categories")
# The seeded demo admin (monolith/shop/core/management/commands/seed_shop.py).
DEMO_ADMIN = ("admin", "demo-pass-123")
CARD = "4242424242424242"  # the simulated gateway's card that always pays
GUEST = {"email": "walk@example.com", "name": "Walk Through", "line1": "Weg 1", "line2": "",
         "city": "Berlin", "zip": "10115", "country": "DE", "card_number": CARD}  # fmt: skip
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Outcome:
    stage: str
    ok: bool
    detail: str


@dataclass
class Traffic:
    """Shop visitors reading the catalog through the facade, each with a session of their
    own (the canary's sticky key), until stopped."""

    facade_url: str
    product_ids: list[int]
    category_ids: list[int]
    users: int = 200
    statuses: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _paths(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.6:
            return f"/api/products/{rng.choice(self.product_ids)}/"
        if roll < 0.7:
            return f"/api/products/?page={rng.randint(1, 3)}"
        if roll < 0.9 or not self.category_ids:
            return f"/api/categories/{rng.choice(self.category_ids or [1])}/"
        return "/api/categories/"

    def _run(self, seed: int, limit: int | None) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.facade_url, timeout=30.0) as client:
            while not self._stop.is_set() and (limit is None or self.sent < limit):
                self.sent += 1
                cookie = f"sessionid=demo-user-{rng.randrange(self.users)}"
                try:
                    resp = client.get(self._paths(rng), headers={"cookie": cookie})
                    self.statuses[resp.status_code] += 1
                except httpx.HTTPError:
                    self.statuses[0] += 1

    def start(self, clients: int = 6, limit: int | None = None) -> Traffic:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(i, limit), daemon=True) for i in range(clients)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def wait(self) -> None:
        for thread in self._threads:
            thread.join()

    @property
    def failures(self) -> int:
        return sum(n for status, n in self.statuses.items() if status == 0 or status >= 500)


class Walk:
    def __init__(self, config: StackConfig, console: Console) -> None:
        self.config = config
        self.console = console
        self.facade = config.facade_url
        self.outcomes: list[Outcome] = []
        self.headers = {"Authorization": f"Bearer {config.admin_token}"}

    # -- helpers -----------------------------------------------------------------------

    def _strangler(self, *args: str) -> int:
        """Run a `strangler` command as a person would, its output on this console."""
        self.console.print(f"[bold cyan]$ strangler {' '.join(args)}[/]")
        env = {**os.environ, "FACADE_ADMIN_TOKEN": self.config.admin_token,
               "FACADE_URL": self.facade, "COLUMNS": str(max(self.console.width, 120))}  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "strangler", *args], cwd=REPO_ROOT, env=env, check=False
        ).returncode

    def _admin(self, path: str) -> Any:
        resp = httpx.get(f"{self.facade}/_strangler/api{path}", headers=self.headers, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def _modes(self) -> dict[str, tuple[str, float | None]]:
        return {r["id"]: (r["mode"], r.get("percent")) for r in self._admin("/routes")["routes"]}

    def _record(self, stage: str, ok: bool, detail: str) -> bool:
        self.outcomes.append(Outcome(stage, ok, detail))
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.console.print(f"{mark} [bold]{stage}[/]: {detail}")
        return ok

    def _heading(self, text: str) -> None:
        self.console.rule(f"[bold]{text}")

    def _traffic(self) -> Traffic:
        with httpx.Client(base_url=self.config.monolith_url, timeout=30.0) as client:
            products = client.get("/api/products/", params={"page_size": 100}).json()["results"]
            categories = client.get("/api/categories/").json()
        cats = categories["results"] if isinstance(categories, dict) else categories
        return Traffic(self.facade, [p["id"] for p in products], [c["id"] for c in cats])

    # -- the stages --------------------------------------------------------------------

    def run(self) -> list[Outcome]:
        stages: list[tuple[str, Callable[[], bool]]] = [
            ("step 1", self.step_1), ("step 2", self.step_2),
            ("contracts", self.contracts), ("step 3", self.step_3),
            ("step 4", self.step_4),
        ]  # fmt: skip
        for i, (_, stage) in enumerate(stages):
            if not stage():
                for name, _ in stages[i + 1 :]:  # later stages build on this one
                    self._record(name, False, "not reached")
                break
        self._heading("where the stack stands")
        self._strangler("step", "status")
        return self.outcomes

    def step_1(self) -> bool:
        self._heading("step 1: the facade in front of the monolith")
        code = self._strangler("step", "apply", "1")
        return self._record("step 1 applied", code == 0, "every route answered by the monolith")

    def step_2(self, requests: int = 1200) -> bool:
        self._heading("step 2: catalog reads shadowed and compared")
        if self._strangler("step", "apply", "2") != 0:
            return self._record("step 2 applied", False, "strangler step apply 2 failed")
        for route in READ_ROUTES:
            httpx.delete(f"{self.facade}/_strangler/api/parity/{route}", headers=self.headers)
        traffic = self._traffic()
        with self._progress() as progress:
            task = progress.add_task("shop traffic through the facade", total=requests)
            traffic.start(limit=requests)
            while any(t.is_alive() for t in traffic._threads):
                progress.update(task, completed=min(traffic.sent, requests))
                time.sleep(0.2)  # a progress bar's refresh, not a synchronisation
            progress.update(task, completed=requests)
        compared = self._wait_compared(READ_ROUTES, minimum=200, timeout=60)
        parity = {r["route"]: r for r in self._admin("/parity")["routes"]}
        columns = ("route", "compared", "matched", "match rate", "noise fields", "top fields")
        table = Table(*columns, title="parity: monolith vs catalog service")
        for route in READ_ROUTES:
            p = parity.get(route, {})
            rate = p.get("match_rate")
            table.add_row(route, str(p.get("compared", 0)), str(p.get("matched", 0)),
                          "-" if rate is None else f"{rate:.2%}",
                          ", ".join(p.get("noise_paths", [])[:3]) or "-",
                          ", ".join(f["path"] for f in p.get("fields", [])[:3]) or "-")  # fmt: skip
        self.console.print(table)
        failures = traffic.failures
        ok = compared and failures == 0
        return self._record("step 2 shadow + parity", bool(ok),
                            f"{traffic.sent} requests, {failures} failed; comparisons "
                            + ", ".join(f"{r} {parity.get(r, {}).get('compared', 0)}"
                                        for r in READ_ROUTES))  # fmt: skip

    def _wait_compared(self, routes: tuple[str, ...], minimum: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            parity = {r["route"]: r for r in self._admin("/parity")["routes"]}
            if all(parity.get(r, {}).get("compared", 0) >= minimum for r in routes):
                return True
            time.sleep(0.5)  # polling the facade's counters, bounded by the deadline
        return False

    def contracts(self) -> bool:
        self._heading("contracts: consumer pacts verified against both providers")
        code = self._strangler("contracts", "verify")
        return self._record("contracts verified", code == 0,
                            "the matrix above; the gate reads its ledger")  # fmt: skip

    def step_3(self, timeout: float = 240.0) -> bool:
        self._heading("step 3: catalog reads canaried by the facade's ramp")
        traffic = self._traffic().start()
        started = datetime.now(UTC)  # the audit log outlives runs: only this ramp's entries
        try:
            if self._strangler("step", "apply", "3") != 0:
                return self._record("step 3 applied", False, "a gate refused (see above)")
            seen: list[str] = []
            deadline = time.monotonic() + timeout
            with self._progress() as progress:
                tasks = {
                    r: progress.add_task(f"{r} on the service", total=100) for r in READ_ROUTES
                }
                while time.monotonic() < deadline:
                    modes = self._modes()
                    for route in READ_ROUTES:
                        mode, percent = modes[route]
                        share = {"extracted": 100.0, "canary": percent or 0.0}.get(mode, 0.0)
                        label = f"{route}: {mode}" + (f" {share:g}%" if mode == "canary" else "")
                        progress.update(tasks[route], completed=share, description=label)
                    if any(modes[r][0] not in ("canary", "extracted") for r in READ_ROUTES):
                        break  # rolled back
                    if all(modes[r][0] == "extracted" for r in READ_ROUTES):
                        break
                    time.sleep(0.25)  # the dashboard's refresh: the ramp moves on its own
            for entry in reversed(self._admin("/audit?limit=200")["entries"]):
                at = datetime.fromisoformat(entry.get("at", "1970-01-01T00:00:00+00:00"))
                if entry.get("source") == "ramp" and "new" in entry and at >= started:
                    for rid, route in entry["new"]["routes"].items():
                        where = route["mode"] + (
                            f" {route['percent']:g}%" if route["mode"] == "canary" else ""
                        )
                        seen.append(f"{rid}: {entry['action']} -> {where} ({entry['reason']})")
            for line in seen:
                self.console.print(f"  {line}")
            modes = self._modes()
            done = all(modes[r][0] == "extracted" for r in READ_ROUTES)
        finally:
            traffic.stop()
        failures = traffic.failures
        where = ", ".join(f"{r} {modes[r][0]}" for r in READ_ROUTES)
        detail = f"{where}; {traffic.sent} requests during the ramp, {failures} failed"
        return self._record("step 3 reads cut over", done and failures == 0, detail)

    def step_4(self, timeout: float = 60.0) -> bool:
        self._heading("step 4: catalog writes move to the catalog service")
        # The dry run exits 1 exactly when a gate refuses: then the walk says so (the run
        # fails) and forces the step, so the rest of the stage is still shown and checked.
        args = ["step", "apply", "4"]
        gates = self._strangler(*args, "--dry-run")
        if gates == 1:
            why = "a gate refused (see above); applied with --force, named in the audit log"
            self._record("step 4 gates", False, why)
            args.append("--force")
        if gates not in (0, 1) or self._strangler(*args) != 0:
            return self._record("step 4 applied", False, "strangler step apply 4 failed")
        dbs = ownership.Databases(self.config.db_url("shop"), self.config.db_url("catalog"))
        try:
            owner = ownership.status(dbs).owner
        except psycopg.Error as exc:
            return self._record("step 4 applied", False, f"cannot read the write flags: {exc}")
        detail = f"routes live; catalog writes owned by the {owner or 'nobody'}"
        if not self._record("step 4 applied", owner == "service", detail):
            return False
        try:
            return self._staff_price_change(timeout)
        except (httpx.HTTPError, LookupError, ValueError) as exc:
            return self._record("step 4 price change", False, f"{type(exc).__name__}: {exc}")

    def _staff_price_change(self, timeout: float) -> bool:
        monolith = self.config.monolith_url
        with httpx.Client(base_url=monolith, timeout=10) as client:
            listing = client.get("/api/products/", params={"page_size": 100}).json()["results"]
        # The legacy API's status codes: "A" is active, the only status the shop sells.
        chosen = next((p for p in listing if p["status"] == "A" and p["in_stock"]), None)
        if chosen is None:
            detail = "no active product in stock on the monolith's first page"
            return self._record("step 4 price change via /v2", False, detail)
        pid, currency = int(chosen["id"]), str(chosen["currency"]).upper()
        old = Decimal(str(chosen["price"]))
        new = old + 1 if old < 99_998 else old - 1
        # A browser: the login page gives the CSRF cookie and form token, the form post a
        # session; every later write sends the (rotated) cookie's token in X-CSRFToken.
        with httpx.Client(base_url=self.facade, timeout=10) as browser:
            page = browser.get("/accounts/login/")
            field = _CSRF_FIELD.search(page.text)
            if page.status_code != 200 or field is None:
                detail = f"the login page answered {page.status_code} without a form"
                return self._record("step 4 staff login", False, detail)
            same_site = {"Origin": self.facade, "Referer": f"{self.facade}/accounts/login/"}
            username, password = DEMO_ADMIN
            form = {"username": username, "password": password, "next": "/"}
            form["csrfmiddlewaretoken"] = field.group(1)
            login = browser.post("/accounts/login/", headers=same_site, data=form)
            if login.status_code != 302 or "sessionid" not in browser.cookies:
                detail = f"the login answered {login.status_code} without a session"
                return self._record("step 4 staff login", False, detail)
            with_token = {**same_site, "X-CSRFToken": browser.cookies["csrftoken"]}
            body = {"price": {"amount": f"{new:.2f}", "currency": currency}}
            url = f"/v2/products/{pid}"
            forged = browser.patch(url, json=body, headers={"Origin": "https://evil.example"})
            legacy_body = {"price": f"{new:.2f}"}
            legacy = browser.patch(f"/api/products/{pid}/", json=legacy_body, headers=with_token)
            changed = browser.patch(url, json=body, headers=with_token)
        answer = changed.json() if changed.status_code == 200 else {}
        ok = (
            forged.status_code == 403
            and legacy.status_code == 423
            and Decimal(str(answer.get("price", {}).get("amount", "-1"))) == new
        )
        detail = (
            f"product {pid} {old} -> {new} {currency}: PATCH /v2 {changed.status_code}, "
            f"cross-site copy {forged.status_code}, legacy API {legacy.status_code}"
        )
        if not self._record("step 4 price change via /v2", ok, detail):
            return False

        started = time.monotonic()
        storefront = self._wait(timeout, lambda: self._storefront_shows(pid, new, currency))
        shown = time.monotonic() - started
        detail = (
            f"the monolith's /products/{pid}/ shows {new} after {shown:.1f}s"
            if storefront
            else f"the monolith's /products/{pid}/ still shows another price after {timeout:.0f}s"
        )
        if not self._record("step 4 storefront shows it", bool(storefront), detail):
            return False
        # Each try places an order: one a second is plenty once the storefront agrees.
        line = self._wait(timeout, lambda: self._order_line_price(pid, new), poll=1.0)
        detail = (
            f"order {line} (checkout API, card {CARD[-4:]}) charges {new} for product {pid}"
            if line
            else f"no order line at {new} within {timeout:.0f}s"
        )
        return self._record("step 4 checkout charges it", line is not None, detail)

    @staticmethod
    def _wait(timeout: float, probe: Callable[[], Any], poll: float = 0.25) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(poll)  # polling the reverse sync, bounded by the deadline
        return None

    def _storefront_shows(self, pid: int, price: Decimal, currency: str) -> bool:
        page = httpx.get(f"{self.config.monolith_url}/products/{pid}/", timeout=10)
        return page.status_code == 200 and f">{price:.2f} {currency}<" in page.text

    def _order_line_price(self, pid: int, price: Decimal) -> int | None:
        """A guest order of one unit through the monolith's checkout API: its id when its
        line carries ``price``. The sync has applied the price by now, so one order does."""
        with httpx.Client(base_url=self.config.monolith_url, timeout=30) as shopper:
            added = shopper.post("/api/cart/items/", json={"product_id": pid, "quantity": 1})
            if added.status_code != 201:
                raise ValueError(f"adding product {pid} to a cart answered {added.status_code}")
            order = shopper.post("/api/checkout/", json=GUEST)
            if order.status_code != 201:
                raise ValueError(f"checkout answered {order.status_code}: {order.text[:200]}")
            body = order.json()
        lines = [x for x in body["lines"] if x["product_id"] == pid]
        if lines and Decimal(str(lines[0]["unit_price"])) == price:
            return int(body["id"])
        return None

    def _progress(self) -> Progress:
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=self.console)  # fmt: skip


def summary(console: Console, outcomes: list[Outcome]) -> int:
    table = Table("stage", "result", "detail", title="the walk", header_style="bold")
    for o in outcomes:
        table.add_row(o.stage, "[green]pass[/]" if o.ok else "[red]FAIL[/]", o.detail)
    console.print(table)
    return sum(not o.ok for o in outcomes)
