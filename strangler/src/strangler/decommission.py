"""The decommission report: what the monolith still serves, what no longer reaches it.

Retiring code is safe when nothing uses it any more, and "nothing" has to be measured. A
**snapshot**, taken at a capability's cut-over (``strangler decommission snapshot --label
step-5-orders-saga``), records three sets of cumulative counters:

* per table of the monolith's database, the write counters of ``pg_stat_user_tables``
  (``n_tup_ins``, ``n_tup_upd``, ``n_tup_del``), and which tables carry the read-only
  guard of ``strangler.retire``;
* the monolith's requests per Django view (``http_requests_total`` on its ``/metrics``,
  labelled by URL pattern name: ``shop.core.observability``);
* the facade's requests per route and per upstream that answered (``facade_requests_total``
  on its ``/metrics``).

The **report** diffs the counters now against the snapshot of each capability's cut-over
(``retire:`` in the step 6 manifest says which views, routes and tables belong to which
capability and which snapshot is its cut-over). All counters are cumulative and start
again from zero when their process restarts (PostgreSQL's on a server restart or a stats
reset): a counter lower than in the snapshot, a different server start or a facade series
created after the snapshot means the figure is a lower bound, and the report says so
instead of printing a difference that is not one.

Snapshots are JSON files under ``<state dir>/decommission/``; this module does the I/O of
collecting them, the report itself is a pure function of snapshots (testable with
fabricated ones).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg

from strangler.retire import status as guarded_tables
from strangler.steps import PLAN_DIR, Retirement, Step, load_manifest

SNAPSHOT_VERSION = 1
MONOLITH_REQUESTS = "http_requests_total"  # shop.core.observability.REQUESTS
FACADE_REQUESTS = "facade_requests_total"  # facade.metrics: facade_requests{route, upstream, ...}
FACADE_CREATED = "facade_requests_created"
MONOLITH_UPSTREAM = "monolith"
NO_ROUTE = "<unmatched>"  # the monolith's label for a request no URL pattern matched
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class DecommissionError(Exception):
    pass


# -- Prometheus text exposition


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(?:\s+\S+)?\s*$")
_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if match is None:
            if text[pos:].strip(" ,"):
                raise ValueError(f"malformed labels {{{text}}}")
            break
        value = re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], match.group(2))
        labels[match.group(1)] = value
        pos = match.end()
    return labels


def parse_samples(text: str, names: Iterable[str]) -> list[Sample]:
    """The samples of the named series in a Prometheus text exposition (labels unescaped).
    Lines that do not parse are skipped: a report must not fail on one odd series."""
    wanted = set(names)
    out: list[Sample] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None or match.group(1) not in wanted:
            continue
        try:
            labels = _labels(match.group(3) or "")
            value = float(match.group(4))
        except ValueError:
            continue
        out.append(Sample(match.group(1), labels, value))
    return out


def monolith_view_counts(text: str) -> dict[str, float]:
    """Requests per Django view (URL pattern name), every method and status added up."""
    counts: dict[str, float] = {}
    for sample in parse_samples(text, [MONOLITH_REQUESTS]):
        route = sample.labels.get("route", NO_ROUTE)
        counts[route] = counts.get(route, 0.0) + sample.value
    return counts


def facade_route_counts(text: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(route -> upstream that answered -> requests; route -> earliest series creation).
    Upstream ``-``: refused by the facade before any upstream."""
    counts: dict[str, dict[str, float]] = {}
    created: dict[str, float] = {}
    for sample in parse_samples(text, [FACADE_REQUESTS, FACADE_CREATED]):
        route = sample.labels.get("route", "")
        upstream = sample.labels.get("upstream", "-")
        if sample.name == FACADE_CREATED:
            key = f"{route}\x00{upstream}"
            created[key] = min(created.get(key, sample.value), sample.value)
            continue
        per = counts.setdefault(route, {})
        per[upstream] = per.get(upstream, 0.0) + sample.value
    return counts, created


# -- snapshots


@dataclass(frozen=True)
class TableWrites:
    inserted: int
    updated: int
    deleted: int

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass
class Snapshot:
    label: str
    taken_at: str
    """UTC, ISO 8601."""
    database: dict[str, Any] | None = None
    """``server_started``, ``stats_reset`` (ISO or None), ``tables``: name -> TableWrites
    fields, ``guarded``: names of read-only tables. None: the database was not readable."""
    monolith_views: dict[str, float] | None = None
    facade_routes: dict[str, dict[str, float]] | None = None
    facade_created: dict[str, float] = field(default_factory=dict)
    """``route\\x00upstream`` -> creation time (epoch seconds) of the series."""
    problems: list[str] = field(default_factory=list)
    """Sources that could not be read when the snapshot was taken."""
    version: int = SNAPSHOT_VERSION

    def table(self, name: str) -> TableWrites | None:
        if self.database is None:
            return None
        row = self.database.get("tables", {}).get(name)
        return None if row is None else TableWrites(**row)

    def guarded(self, name: str) -> bool:
        return self.database is not None and name in self.database.get("guarded", [])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        if data.get("version") != SNAPSHOT_VERSION:
            raise DecommissionError(f"snapshot version {data.get('version')!r} is not supported")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def database_counters(dsn: str) -> dict[str, Any]:
    """The write counters of every user table, and what tells a server restart apart."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
            " WHERE schemaname = ANY(current_schemas(false)) ORDER BY relname"
        ).fetchall()
        server = conn.execute(
            "SELECT pg_postmaster_start_time(), stats_reset FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    started, reset = server if server is not None else (None, None)
    return {
        "server_started": started.isoformat() if started is not None else None,
        "stats_reset": reset.isoformat() if reset is not None else None,
        "tables": {
            str(name): asdict(TableWrites(int(ins), int(upd), int(dele)))
            for name, ins, upd, dele in rows
        },
        "guarded": [p.table for p in guarded_tables(dsn)],
    }


def _scrape(client: httpx.Client, url: str) -> str:
    response = client.get(url)
    response.raise_for_status()
    return response.text


def take_snapshot(
    label: str,
    *,
    monolith_dsn: str,
    monolith_metrics_url: str | None,
    facade_metrics_url: str | None,
    timeout: float = 5.0,
    now: datetime | None = None,
) -> Snapshot:
    """Read every source; one that does not answer is named in ``problems``, not fatal."""
    if not LABEL.match(label):
        raise DecommissionError(
            f"label {label!r}: use letters, digits, '.', '_', '-' (e.g. step-5-orders-saga)"
        )
    taken = (now or datetime.now(UTC)).astimezone(UTC)
    snapshot = Snapshot(label=label, taken_at=taken.isoformat())
    try:
        snapshot.database = database_counters(monolith_dsn)
    except psycopg.Error as exc:
        snapshot.problems.append(f"monolith database: {exc}".strip())
    with httpx.Client(timeout=timeout) as client:
        if monolith_metrics_url:
            try:
                snapshot.monolith_views = monolith_view_counts(
                    _scrape(client, monolith_metrics_url)
                )
            except httpx.HTTPError as exc:
                snapshot.problems.append(f"monolith metrics {monolith_metrics_url}: {exc!r}")
        if facade_metrics_url:
            try:
                routes, created = facade_route_counts(_scrape(client, facade_metrics_url))
                snapshot.facade_routes, snapshot.facade_created = routes, created
            except httpx.HTTPError as exc:
                snapshot.problems.append(f"facade metrics {facade_metrics_url}: {exc!r}")
    return snapshot


def snapshot_dir(state_dir: Path) -> Path:
    return state_dir / "decommission"


def save_snapshot(state_dir: Path, snapshot: Snapshot) -> Path:
    """Write (or replace: the latest cut-over counts) ``<state>/decommission/<label>.json``."""
    folder = snapshot_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{snapshot.label}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(snapshot), indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return path


def load_snapshots(state_dir: Path) -> dict[str, Snapshot]:
    folder = snapshot_dir(state_dir)
    found: dict[str, Snapshot] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            snapshot = Snapshot.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, DecommissionError) as exc:
            raise DecommissionError(f"{path}: unreadable snapshot ({exc})") from None
        found[snapshot.label] = snapshot
    return found


def load_retirement(plan_dir: Path = PLAN_DIR) -> tuple[str, Retirement]:
    """(step id, its ``retire:``) of the last step that declares one."""
    for folder in sorted((p for p in plan_dir.glob("step-*") if p.is_dir()), reverse=True):
        path = folder / "step.yaml"
        if path.is_file():
            manifest = load_manifest(path)
            if manifest.retire is not None:
                return manifest.id, manifest.retire
    raise DecommissionError(f"{plan_dir}: no step declares 'retire:'")


def retirement_of(step: Step) -> Retirement | None:
    return step.manifest.retire


# -- the report


@dataclass(frozen=True)
class Delta:
    """A counter's growth since a snapshot; ``reset``: it started again since, so the value
    is what was counted after the restart only (a lower bound)."""

    value: float
    reset: bool = False

    def show(self) -> str:
        number = f"{self.value:g}"
        return f">= {number} (counter reset)" if self.reset else number


def delta(before: float | None, after: float | None, *, reset: bool = False) -> Delta:
    now, then = after or 0.0, before or 0.0
    if reset or now < then:
        return Delta(now, True)
    return Delta(now - then)


@dataclass(frozen=True)
class RouteRow:
    route: str
    capability: str | None
    since: str
    answered: Delta


@dataclass(frozen=True)
class ViewRow:
    view: str
    capability: str | None
    since: str
    requests: Delta | None
    """None: no snapshot to compare with."""


@dataclass(frozen=True)
class TableRow:
    table: str
    capability: str
    since: str
    writes: Delta | None
    verdict: Literal["not written", "sync only", "still written", "unknown"]
    detail: str


@dataclass
class Report:
    retirement_step: str
    served_routes: list[RouteRow]
    served_views: list[ViewRow]
    idle_views: list[ViewRow]
    tables: list[TableRow]
    notes: list[str]
    missing: list[str]
    """Cut-over snapshots the report needed and did not find."""

    @property
    def blockers(self) -> list[str]:
        out: list[str] = []
        out += [f"snapshot {label} missing" for label in self.missing]
        out += [
            f"facade route {r.route} ({r.capability}) answered by the monolith {r.answered.show()}x"
            for r in self.served_routes
            if r.capability is not None
        ]
        out += [
            f"retired view {v.view} got {v.requests.show() if v.requests else '?'} request(s)"
            for v in self.served_views
            if v.capability is not None
        ]
        out += [f"table {t.table} {t.verdict}: {t.detail}" for t in self.tables
                if t.verdict in ("still written", "unknown")]  # fmt: skip
        return out

    @property
    def ready(self) -> bool:
        return not self.blockers

    @property
    def verdict(self) -> str:
        if self.ready:
            return (
                "ready to drop: no retired view or route got traffic and no retired table was "
                "written outside its sync since its cut-over"
            )
        blockers = self.blockers
        more = "; ..." if len(blockers) > 5 else ""
        return f"not ready: {len(blockers)} blocker(s): " + "; ".join(blockers[:5]) + more

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ready"] = self.ready
        data["verdict"] = self.verdict
        data["blockers"] = self.blockers
        return data


def _facade_reset(base: Snapshot, now: Snapshot, route: str, upstream: str) -> bool:
    key = f"{route}\x00{upstream}"
    before, after = base.facade_created.get(key), now.facade_created.get(key)
    return before is not None and after is not None and after > before


def _database_reset(base: Snapshot, now: Snapshot) -> str | None:
    if base.database is None or now.database is None:
        return None
    if base.database.get("server_started") != now.database.get("server_started"):
        return f"PostgreSQL restarted since {base.label}"
    if base.database.get("stats_reset") != now.database.get("stats_reset"):
        return f"PostgreSQL statistics were reset since {base.label}"
    return None


def build_report(
    retirement: Retirement,
    snapshots: Mapping[str, Snapshot],
    now: Snapshot,
    *,
    retirement_step: str = "step-6-retire",
) -> Report:
    """Diff ``now`` against each capability's cut-over snapshot."""
    notes = [f"now: {p}" for p in now.problems]
    missing: list[str] = []
    route_owner: dict[str, str] = {}
    view_owner: dict[str, str] = {}
    baselines: dict[str, Snapshot] = {}
    for name, capability in retirement.capabilities.items():
        route_owner.update(dict.fromkeys(capability.routes, name))
        view_owner.update(dict.fromkeys(capability.views, name))
        base = snapshots.get(capability.cutover)
        if base is None:
            missing.append(capability.cutover)
        else:
            baselines[name] = base
            notes += [f"{base.label}: {p}" for p in base.problems]
    # What belongs to no retired capability is measured since the latest cut-over.
    latest = max(baselines.values(), key=lambda s: s.taken_at, default=None)

    def baseline(owner: str | None) -> Snapshot | None:
        return baselines.get(owner) if owner is not None else latest

    served_routes: list[RouteRow] = []
    routes = set(now.facade_routes or {})
    for snap in baselines.values():
        routes |= set(snap.facade_routes or {})
    if now.facade_routes is None:
        notes.append("the facade's metrics were not readable now: no route counts")
    for route in sorted(routes):
        owner = route_owner.get(route)
        base = baseline(owner)
        if base is None or base.facade_routes is None or now.facade_routes is None:
            continue
        before = base.facade_routes.get(route, {}).get(MONOLITH_UPSTREAM)
        after = now.facade_routes.get(route, {}).get(MONOLITH_UPSTREAM)
        reset = _facade_reset(base, now, route, MONOLITH_UPSTREAM)
        answered = delta(before, after, reset=reset)
        if answered.value or (answered.reset and owner is not None):
            served_routes.append(RouteRow(route, owner, base.label, answered))

    served_views: list[ViewRow] = []
    idle_views: list[ViewRow] = []
    views = set(now.monolith_views or {}) | set(view_owner)
    for snap in baselines.values():
        views |= set(snap.monolith_views or {})
    views.discard(NO_ROUTE)
    if now.monolith_views is None:
        notes.append("the monolith's metrics were not readable now: no view counts")
    for view in sorted(views):
        owner = view_owner.get(view)
        base = baseline(owner)
        if base is None or base.monolith_views is None or now.monolith_views is None:
            if owner is not None:
                idle_views.append(ViewRow(view, owner, base.label if base else "-", None))
            continue
        before, after = base.monolith_views.get(view), now.monolith_views.get(view)
        requests = delta(before, after)
        row = ViewRow(view, owner, base.label, requests)
        (served_views if requests.value else idle_views).append(row)
    if any(v.requests is not None and v.requests.reset for v in served_views + idle_views):
        notes.append(
            "the monolith's request counters went back since a snapshot (a restart): its "
            "view counts are since the restart, lower bounds"
        )

    tables: list[TableRow] = []
    ordered = sorted(snapshots.values(), key=lambda snap: snap.taken_at)
    for name, capability in retirement.capabilities.items():
        for table in capability.tables:
            writers = capability.sync_origin or "the sync"
            if table.writable_columns:
                columns = ", ".join(table.writable_columns)
                writers += f" or the monolith's changes to {columns} only"
            tables.append(_table_row(table.name, name, writers, baselines.get(name), ordered, now))
    for base in baselines.values():
        reason = _database_reset(base, now)
        if reason:
            notes.append(f"{reason}: table counters are since then, lower bounds")
    return Report(retirement_step, served_routes, served_views, idle_views, tables, notes,
                  sorted(set(missing)))  # fmt: skip


def _table_row(
    table: str,
    capability: str,
    writers: str,
    base: Snapshot | None,
    ordered: list[Snapshot],
    now: Snapshot,
) -> TableRow:
    """Writes since the cut-over; when there are some, whether the read-only guard (which
    lets only the sync's origin through) has been in place since a snapshot: the writes
    after that snapshot are the sync's, those before it cannot be attributed."""
    if base is None or base.database is None or now.database is None:
        return TableRow(table, capability, base.label if base else "-", None, "unknown",
                        "no counters to compare")  # fmt: skip
    after = now.table(table)
    if after is None:
        return TableRow(table, capability, base.label, None, "unknown",
                        "not in the database now (dropped?)")  # fmt: skip
    before = base.table(table)
    writes = delta(before.total if before else None, after.total,
                   reset=_database_reset(base, now) is not None)  # fmt: skip
    if not writes.value and not writes.reset:
        return TableRow(table, capability, base.label, writes, "not written",
                        f"no insert, update or delete since {base.label}")  # fmt: skip
    if not now.guarded(table):
        return TableRow(table, capability, base.label, writes, "still written",
                        "not read-only: `strangler decommission read-only` guards it")  # fmt: skip
    guard = next(
        (s for s in ordered
         if s.taken_at >= base.taken_at and s.guarded(table) and s.table(table) is not None),
        None,
    )  # fmt: skip
    if guard is None:
        return TableRow(table, capability, base.label, writes, "unknown",
                        f"read-only now (only {writers} may write), but no snapshot shows it "
                        "read-only yet: take one and report again later")  # fmt: skip
    at_guard = guard.table(table)
    guarded_writes = delta(at_guard.total if at_guard else None, after.total,
                           reset=_database_reset(guard, now) is not None)  # fmt: skip
    before_guard = writes.value - guarded_writes.value if not writes.reset else 0
    detail = (
        f"read-only since {guard.label}: {guarded_writes.show()} write(s) since, all by {writers}"
    )
    if guard is not base:
        detail += f"; {before_guard:g} between {base.label} and {guard.label} (not attributed)"
    return TableRow(table, capability, base.label, writes, "sync only", detail)
