"""The walk through the migration steps that `make demo` and `make demo-check` run.

On a running stack (the runner's facade starts at step 1), one step after the other:

1. step 1: the facade in front of everything (`strangler step apply 1`), the status;
2. step 2: catalog reads shadowed; shop traffic from many simulated users goes through
   the facade; the parity report per route (every read compared with the service's);
3. the contracts verified (`strangler contracts verify`: consumer pacts, then the
   monolith and the service as providers) and the matrix;
4. step 3: the gates (contracts + parity), then the reads canaried; the facade's ramp
   takes them 5 -> 25 -> 50 -> 100 % -> extracted while traffic flows, or rolls them
   back by itself; the walk waits (bounded) and shows each advance.

Every command is the one a person would type (`strangler step ...` runs in a
subprocess, so its output is what they would see). Each stage returns an outcome;
`demo-check` exits 1 when any failed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from strangler.config import REPO_ROOT, StackConfig

READ_ROUTES = ("catalog-products", "catalog-categories")


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

    def _progress(self) -> Progress:
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=self.console)  # fmt: skip


def summary(console: Console, outcomes: list[Outcome]) -> int:
    table = Table("stage", "result", "detail", title="the walk", header_style="bold")
    for o in outcomes:
        table.add_row(o.stage, "[green]pass[/]" if o.ok else "[red]FAIL[/]", o.detail)
    console.print(table)
    return sum(not o.ok for o in outcomes)
