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

import contextlib
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from strangler import decommission, orders_ownership, ownership
from strangler.config import REPO_ROOT, StackConfig
from strangler.supervisor import Supervisor

READ_ROUTES = ("catalog-products", "catalog-categories")
ORDER_ROUTES = ("orders-reads",)
# The seeded demo admin (monolith/shop/core/management/commands/seed_shop.py).
DEMO_ADMIN = ("admin", "demo-pass-123")
CARD = "4242424242424242"  # the simulated gateway's card that always pays
DECLINED_CARD = "4000000000000002"  # ... and the one it always declines
DEMO_PASSWORD = DEMO_ADMIN[1]  # every seeded account's
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

    def _next(self, rng: random.Random) -> tuple[str, dict[str, str]]:
        """The next request: its path and headers."""
        return self._paths(rng), {"cookie": f"sessionid=demo-user-{rng.randrange(self.users)}"}

    def _run(self, seed: int, limit: int | None) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.facade_url, timeout=30.0) as client:
            while not self._stop.is_set() and (limit is None or self.sent < limit):
                self.sent += 1
                path, headers = self._next(rng)
                try:
                    resp = client.get(path, headers=headers)
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


@dataclass
class OrderReaders(Traffic):
    """Signed-in customers reading their order history through the facade (API tokens:
    the facade resolves each to the customer and signs it for the orders service)."""

    tokens: dict[str, list[int]] = field(default_factory=dict)  # token -> own order ids

    def _next(self, rng: random.Random) -> tuple[str, dict[str, str]]:
        token = rng.choice(sorted(self.tokens))
        own = self.tokens[token]
        path = f"/api/orders/{rng.choice(own)}/" if own and rng.random() < 0.7 else "/api/orders/"
        return path, {"Authorization": f"Token {token}"}


class Walk:
    def __init__(
        self, config: StackConfig, console: Console, supervisor: Supervisor | None = None
    ) -> None:
        self.config = config
        self.console = console
        self.supervisor = supervisor  # redeploys the monolith at step 6
        # The facade's requests per route and answering upstream at the last stage's end.
        self._counts: dict[str, dict[str, float]] = {}
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
            ("step 4", self.step_4), ("step 5", self.step_5), ("step 6", self.step_6),
        ]  # fmt: skip
        for i, (name, stage) in enumerate(stages):
            passed = stage()
            self._served(name)
            if not passed:
                for name, _ in stages[i + 1 :]:  # later stages build on this one
                    self._record(name, False, "not reached")
                break
        self._heading("where the stack stands")
        self._strangler("step", "status")
        return self.outcomes

    def _served(self, stage: str) -> None:
        """Requests each side answered per route during the stage (the facade's counters),
        and the outbox lag both ways at its end."""
        try:
            text = httpx.get(f"{self.facade}/metrics", timeout=5).text
        except httpx.HTTPError:
            return
        counts, _ = decommission.facade_route_counts(text)
        before, self._counts = self._counts, counts
        table = Table("route", "monolith", "service", "refused",
                      title=f"{stage}: requests answered per side")  # fmt: skip
        for route, per in sorted(counts.items()):
            was = before.get(route, {})
            delta = {k: int(v - was.get(k, 0.0)) for k, v in per.items()}
            if not any(delta.values()):
                continue
            service = sum(n for k, n in delta.items() if k not in ("monolith", "-"))
            table.add_row(route, str(delta.get("monolith", 0)), str(service),
                          str(delta.get("-", 0)))  # fmt: skip
        if table.row_count:
            self.console.print(table)
        self.console.print(f"outbox lag: {self._lag()}")

    def _lag(self) -> str:
        """Unpublished events and aggregates not applied yet, each way."""
        db, parts = self.config.db_url, []
        catalog = ownership.Databases(db("shop"), db("catalog"))
        orders = ownership.Databases(db("shop"), db("orders"))
        paths: list[tuple[str, ownership.Databases, ownership.Side, str | None]] = [
            ("monolith -> catalog", catalog, "monolith", None),
            ("catalog -> monolith", catalog, "service", None),
            ("orders -> monolith", orders, "service", orders_ownership.CONSUMER),
        ]
        for label, dbs, source, consumer in paths:
            try:
                lag = ownership.lag(dbs, source, consumer=consumer)
            except psycopg.Error:
                continue
            parts.append(f"{label} {lag.unpublished} unpublished, {len(lag.behind)} behind")
        return "; ".join(parts) or "unknown"

    def _apply_gated(self, step: int) -> bool:
        """`strangler step apply N`. The dry run exits 1 exactly when a gate refuses: then
        the walk says so (the run fails) and forces the step, so the rest of the stage is
        still shown and checked."""
        args = ["step", "apply", str(step)]
        gates = self._strangler(*args, "--dry-run")
        if gates == 1:
            why = "a gate refused (see above); applied with --force, named in the audit log"
            self._record(f"step {step} gates", False, why)
            args.append("--force")
        return gates in (0, 1) and self._strangler(*args) == 0

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
        try:
            if self._strangler("step", "apply", "3") != 0:
                return self._record("step 3 applied", False, "a gate refused (see above)")
            done, where = self._follow_ramp(READ_ROUTES, timeout)
        finally:
            traffic.stop()
        failures = traffic.failures
        detail = f"{where}; {traffic.sent} requests during the ramp, {failures} failed"
        return self._record("step 3 reads cut over", done and failures == 0, detail)

    def _follow_ramp(self, routes: tuple[str, ...], timeout: float) -> tuple[bool, str]:
        """Show the facade's ramp of ``routes`` until each is extracted or rolled back
        (bounded), then the ramp's audit entries. True when all reached extracted."""
        started = datetime.now(UTC)  # the audit log outlives runs: only this ramp's entries
        deadline = time.monotonic() + timeout
        with self._progress() as progress:
            tasks = {r: progress.add_task(f"{r} on the service", total=100) for r in routes}
            while time.monotonic() < deadline:
                modes = self._modes()
                for route in routes:
                    mode, percent = modes[route]
                    share = {"extracted": 100.0, "canary": percent or 0.0}.get(mode, 0.0)
                    label = f"{route}: {mode}" + (f" {share:g}%" if mode == "canary" else "")
                    progress.update(tasks[route], completed=share, description=label)
                if any(modes[r][0] not in ("canary", "extracted") for r in routes):
                    break  # rolled back
                if all(modes[r][0] == "extracted" for r in routes):
                    break
                time.sleep(0.25)  # the dashboard's refresh: the ramp moves on its own
        for entry in reversed(self._admin("/audit?limit=200")["entries"]):
            at = datetime.fromisoformat(entry.get("at", "1970-01-01T00:00:00+00:00"))
            if entry.get("source") == "ramp" and "new" in entry and at >= started:
                for rid, route in entry["new"]["routes"].items():
                    if rid not in routes:
                        continue
                    where = route["mode"] + (
                        f" {route['percent']:g}%" if route["mode"] == "canary" else ""
                    )
                    self.console.print(f"  {rid}: {entry['action']} -> {where} ({entry['reason']})")
        modes = self._modes()
        done = all(modes[r][0] == "extracted" for r in routes)
        return done, ", ".join(f"{r} {modes[r][0]}" for r in routes)

    def step_4(self, timeout: float = 60.0) -> bool:
        self._heading("step 4: catalog writes move to the catalog service")
        if not self._apply_gated(4):
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

    def step_5(self, timeout: float = 240.0) -> bool:
        self._heading("step 5: checkout moves to the orders service as a saga")
        if not self._apply_gated(5):
            return self._record("step 5 applied", False, "strangler step apply 5 failed")
        self._record("step 5 applied", True, "checkout routed to the orders service; "
                     "the monolith's checkout frozen; order history imported")  # fmt: skip
        readers = self._order_readers().start(clients=4)
        try:
            try:
                placed = self._saga_orders()
            except (httpx.HTTPError, LookupError, ValueError, psycopg.Error) as exc:
                placed = self._record("step 5 checkouts", False, f"{type(exc).__name__}: {exc}")
            done, where = self._follow_ramp(ORDER_ROUTES, timeout)
        finally:
            readers.stop()
        failures = readers.failures
        detail = f"{where}; {readers.sent} order reads during the ramp, {failures} failed"
        ramped = self._record("step 5 order reads cut over", done and failures == 0, detail)
        if ramped:  # the reads' cut-over is now: what the decommission report counts from
            self._strangler("decommission", "snapshot", "--label", "step-5-orders-saga")
        return placed and ramped

    def step_6(self) -> bool:
        self._heading("step 6: the monolith's catalog and orders code retired")
        if not self._apply_gated(6):
            return self._record("step 6 applied", False, "strangler step apply 6 failed")
        if self.supervisor is None:
            why = "no stack runner to restart the monolith with SHOP_RETIRED"
            return self._record("step 6 monolith redeployed", False, why)
        self.console.print("» redeploying the monolith with SHOP_RETIRED=catalog,orders")
        self.supervisor.restart("monolith", {"SHOP_RETIRED": "catalog,orders"})
        monolith, facade = self.config.monolith_url, self.facade
        with httpx.Client(timeout=30) as client:
            gone = {p: client.get(f"{monolith}{p}").status_code
                    for p in ("/api/products/", "/api/categories/", "/api/orders/")}  # fmt: skip
            served = {p: client.get(f"{facade}{p}").status_code
                      for p in ("/", "/api/products/", "/api/categories/")}  # fmt: skip
        try:
            with psycopg.connect(self.config.db_url("shop")) as conn:
                conn.execute(
                    "UPDATE shop_order SET updated = updated"
                    " WHERE id = (SELECT min(id) FROM shop_order)"
                )
            guarded = "a write to shop_order went through"
        except psycopg.Error as exc:
            guarded = str(exc).splitlines()[0]
        ok = set(gone.values()) == {404} and set(served.values()) == {200} and "retired" in guarded
        detail = (
            f"monolith {', '.join(f'{p} {c}' for p, c in gone.items())}; through the facade "
            f"{', '.join(f'{p} {c}' for p, c in served.items())}; shop_order: {guarded}"
        )
        if not self._record("step 6 routes retired, tables read-only", ok, detail):
            return False
        try:
            with self._shopper(self.facade, self._product_in_stock()) as shopper:
                placed = shopper.post("/api/checkout/", json=GUEST)
        except (httpx.HTTPError, LookupError, ValueError) as exc:
            return self._record("step 6 checkout", False, f"{type(exc).__name__}: {exc}")
        oid = int(placed.json().get("id", 0)) if placed.status_code == 201 else 0
        copy = self._wait(60, lambda: self._copy_in(oid, "paid"))
        detail = f"order #{oid}: {placed.status_code}; the read-only copy: {self._copy_label(copy)}"
        if not self._record("step 6 checkout, copied by the sync", copy is not None, detail):
            return False
        report = self._strangler("decommission", "report")
        verdict = "ready to drop" if report == 0 else "still in use (see the tables above)"
        return self._record("step 6 decommission report", report in (0, 1), verdict)

    def _product_in_stock(self) -> int:
        with httpx.Client(base_url=self.facade, timeout=10) as client:
            listing = client.get("/api/products/", params={"page_size": 100}).json()["results"]
        chosen = next((p for p in listing if p["status"] == "A" and p["stock"] >= 3), None)
        if chosen is None:
            raise LookupError("no active product with 3 units in stock on the first page")
        return int(chosen["id"])

    def _order_readers(self, customers: int = 80) -> OrderReaders:
        """Seeded customers with their API tokens and the ids of their own orders (each
        sticks to one side of the canary: enough of them that some land on each)."""

        def sign_in(i: int) -> tuple[str, list[int]] | None:
            with httpx.Client(base_url=self.config.monolith_url, timeout=30.0) as client:
                login = {"username": f"customer{i}", "password": DEMO_PASSWORD}
                resp = client.post("/api/auth/token/", json=login)
                if resp.status_code != 200:
                    return None
                token = resp.json()["token"]
                mine = client.get("/api/orders/", headers={"Authorization": f"Token {token}"})
                ids = [o["id"] for o in mine.json().get("results", [])] if mine.is_success else []
                return token, ids

        with ThreadPoolExecutor(max_workers=6) as pool:
            signed_in = [r for r in pool.map(sign_in, range(1, customers + 1)) if r]
        if not signed_in:
            raise LookupError("no seeded customer could sign in")
        return OrderReaders(self.facade, [], [], tokens=dict(signed_in))

    def _stock(self, pid: int) -> int:
        with psycopg.connect(self.config.db_url("shop")) as conn:
            row = conn.execute("SELECT qty FROM shop_product WHERE id = %s", (pid,)).fetchone()
        if row is None:
            raise LookupError(f"product {pid} is not in the monolith's database")
        return int(row[0])

    def _legacy_order(self, order_id: int) -> tuple[str, list[str]] | None:
        """The monolith's copy of an order (reverse sync): status and payment statuses."""
        with psycopg.connect(self.config.db_url("shop")) as conn:
            query = "SELECT status FROM shop_order WHERE id = %s"
            row = conn.execute(query, (order_id,)).fetchone()
            pays = conn.execute(
                "SELECT status FROM shop_payment WHERE order_id = %s ORDER BY id", (order_id,)
            ).fetchall()
        return None if row is None else (str(row[0]), [str(p[0]) for p in pays])

    @contextlib.contextmanager
    def _shopper(self, base_url: str, pid: int) -> Iterator[httpx.Client]:
        """A guest with one unit of ``pid`` in the cart (the cart stays in the monolith)."""
        with httpx.Client(base_url=base_url, timeout=70.0) as shopper:
            item = {"product_id": pid, "quantity": 1}
            added = shopper.post(f"{self.facade}/api/cart/items/", json=item)
            if added.status_code != 201:
                raise ValueError(f"adding product {pid} to a cart answered {added.status_code}")
            yield shopper

    def _saga_orders(self, timeout: float = 60.0) -> bool:
        """Three checkouts through the saga: one paid, one declined (stock released), one
        whose orders-service replica dies right after reserving the stock (the saga worker
        finishes it; the customer's retry with the same Idempotency-Key gets the order)."""
        pid = self._product_in_stock()
        table = Table("checkout", "answer", "order", "stock", "monolith's copy",
                      title="checkouts through the saga")  # fmt: skip
        results: list[bool] = []

        # 1. paid
        before = self._stock(pid)
        with self._shopper(self.facade, pid) as shopper:
            paid = shopper.post("/api/checkout/", json=GUEST)
        order = paid.json() if paid.status_code == 201 else {}
        oid = int(order.get("id", 0))
        copy = self._wait(timeout, lambda: self._copy_in(oid, "paid"))
        after = self._stock(pid)
        ok = paid.status_code == 201 and order.get("status") == "paid" and after == before - 1
        results.append(ok and copy is not None)
        table.add_row("card that pays", str(paid.status_code), f"#{oid} {order.get('status')}",
                      f"{before} -> {after}", self._copy_label(copy))  # fmt: skip

        # 2. declined: the saga compensates (stock released, authorisation none), 402
        before = self._stock(pid)
        with self._shopper(self.facade, pid) as shopper:
            declined = shopper.post("/api/checkout/", json={**GUEST, "card_number": DECLINED_CARD})
        problem = declined.json() if declined.status_code == 402 else {}
        oid = int(problem.get("order_id", 0))
        copy = self._wait(timeout, lambda: self._copy_in(oid, "cancelled"))
        after = self._stock(pid)
        results.append(declined.status_code == 402 and after == before and copy is not None)
        table.add_row("declined card", str(declined.status_code), f"#{oid} cancelled",
                      f"{before} -> {after}", self._copy_label(copy))  # fmt: skip

        # 3. a crash in the middle
        before = self._stock(pid)
        crashed, replay = self._crash_mid_saga(pid, timeout)
        order = replay.json() if replay is not None and replay.status_code == 201 else {}
        oid = int(order.get("id", 0))
        copy = self._wait(timeout, lambda: self._copy_in(oid, "paid"))
        after = self._stock(pid)
        answer = f"{crashed}; retry {replay.status_code if replay is not None else '-'}"
        results.append(bool(order) and order.get("status") == "paid" and after == before - 1
                       and copy is not None)  # fmt: skip
        table.add_row("replica dies after reserving", answer, f"#{oid} {order.get('status')}",
                      f"{before} -> {after}", self._copy_label(copy))  # fmt: skip
        self.console.print(table)
        detail = (
            f"{sum(results)}/3 as expected: paid, declined with the stock released, finished "
            "after a crash with the stock taken once; each in the monolith's tables"
        )
        return self._record("step 5 checkouts through the saga", all(results), detail)

    def _copy_in(self, order_id: int, status: str) -> tuple[str, list[str]] | None:
        copy = self._legacy_order(order_id) if order_id else None
        return copy if copy is not None and copy[0] == status else None

    @staticmethod
    def _copy_label(copy: tuple[str, list[str]] | None) -> str:
        if copy is None:
            return "not there"
        return f"{copy[0]}, payments: {', '.join(copy[1]) or 'none'}"

    def _crash_mid_saga(self, pid: int, timeout: float) -> tuple[str, httpx.Response | None]:
        """A second orders-service replica that exits right after the stock reservation
        commits; the stack's saga worker takes the saga over once its lease runs out."""
        from strangler.embedded import free_port
        from strangler.stack import orders_command, orders_env

        port = free_port()
        env = self.config.component_env()
        env = {**env, **orders_env(self.config, env), "ORDERS_FAULT_CRASH_AFTER": "StockReserved",
               "ORDERS_SAGA_LEASE": "2"}  # fmt: skip
        command = orders_command(self.config)
        command[command.index("--port") + 1] = str(port)
        replica = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        key = f"walk-crash-{int(time.time())}"
        try:
            url = f"http://127.0.0.1:{port}"
            if not self._wait(30, lambda: _answers(f"{url}/readyz")):
                return "the replica did not start", None
            with self._shopper(url, pid) as shopper:
                try:
                    first = shopper.post("/api/checkout/", json=GUEST,
                                         headers={"Idempotency-Key": key})  # fmt: skip
                    crashed = f"answered {first.status_code}"
                except httpx.HTTPError as exc:
                    crashed = f"connection lost ({type(exc).__name__})"
                code = replica.wait(timeout=30)
                crashed += f", replica exit {code}"
                # The customer retries through the facade with the same key.
                retry = shopper.post  # the same cookies: the same guest and cart

                def replayed() -> httpx.Response | None:
                    resp = retry(f"{self.facade}/api/checkout/", json=GUEST,
                                 headers={"Idempotency-Key": key})  # fmt: skip
                    return resp if resp.status_code == 201 else None

                return crashed, self._wait(timeout, replayed, poll=1.0)
        finally:
            if replica.poll() is None:
                replica.kill()
                replica.wait(10)

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


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def summary(console: Console, outcomes: list[Outcome]) -> int:
    table = Table("stage", "result", "detail", title="the walk", header_style="bold")
    for o in outcomes:
        table.add_row(o.stage, "[green]pass[/]" if o.ok else "[red]FAIL[/]", o.detail)
    console.print(table)
    return sum(not o.ok for o in outcomes)
