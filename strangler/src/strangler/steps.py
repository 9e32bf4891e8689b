"""The migration plan as data: one ``step.yaml`` per ``migrations-plan/step-N-<slug>/``.

A manifest says what a step is (id, title, status), which facade routes file it runs
with, what it needs of the stack, which gates guard moving to it and which step undoes
it. ``load_plan`` validates every manifest and the links between them; each problem is
reported as ``<file>: <field>: <reason>``.

This module holds no I/O beyond reading the plan folder: comparing route tables,
computing what an apply changes and judging gates are pure functions, so the CLI
(``strangler.step_cli``) and the tests share them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from facade.config import (
    ConfigError,
    RouteConfig,
    RoutesConfig,
    dump_config,
    interpolate,
    load_config,
    parse_config,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from strangler.config import REPO_ROOT

PLAN_DIR = REPO_ROOT / "migrations-plan"
MANIFEST = "step.yaml"
STEP_ID = re.compile(r"^step-(\d+)-[a-z0-9]+(?:-[a-z0-9]+)*$")
Status = Literal["done", "in-progress", "planned"]
Service = Literal["monolith", "facade", "catalog", "relay", "catalog-sync", "orders"]
Context = Literal["catalog", "orders"]
"""Bounded contexts whose write ownership moves (``strangler ownership``)."""
Owner = Literal["monolith", "service"]
GATED_MODES = frozenset({"canary", "extracted"})
# Where an upstream lives belongs to the deployment (compose, the local runner), not to
# the step: applying a step keeps the live addresses of the upstreams the facade knows.
ADDRESS_FIELDS = ("instances", "pools", "active_pool", "discovery")


class PlanError(ValueError):
    """An invalid plan; ``problems`` lists every ``<file>: <field>: <reason>`` found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StackNeeds(_Model):
    sync: bool
    """Whether the monolith -> service sync (outbox relay + consumer) must be running."""
    services: list[Service] = Field(min_length=1)


class ParityGate(_Model):
    routes: list[str] = Field(min_length=1)
    """Routes whose shadow comparison must be good enough before they move."""
    min_match_rate: float = Field(gt=0, le=1)
    min_compared: int = Field(ge=1)
    """Comparisons needed before the match rate means anything."""


class Gates(_Model):
    contracts: list[str] = Field(default_factory=list)
    """Routes this step sends to canary/extracted: their pacts must be green first."""
    parity: ParityGate | None = None


class RetiredTable(_Model):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    writable_columns: list[str] = Field(default_factory=list)
    """Columns the monolith still writes (``shop_product.qty``: the inventory's stock)."""


class RetiredCapability(_Model):
    cutover: str
    """The label of the decommission snapshot taken at the capability's cut-over: the id of
    the step that moved it (``strangler decommission snapshot --label <that step>``)."""
    owner: str = Field(min_length=1)
    """Who writes the capability's data now (``the orders service``): said in refusals."""
    sync_origin: str | None = None
    """The reverse sync's transaction origin (``sync:orders``): its writes stay allowed."""
    views: list[str] = Field(default_factory=list)
    """The monolith's URL pattern names (its metric labels) the step switches off."""
    routes: list[str] = Field(default_factory=list)
    """The facade routes that carry the capability's traffic."""
    tables: list[RetiredTable] = Field(default_factory=list)
    """Legacy tables that turn read-only (a name, or a mapping with writable columns)."""

    @field_validator("tables", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value


class Retirement(_Model):
    capabilities: dict[str, RetiredCapability] = Field(min_length=1)


class StepManifest(_Model):
    id: str
    title: str = Field(min_length=1)
    status: Status
    routes: str | None = None
    """The facade routes file, relative to the step folder; none before the facade."""
    stack: StackNeeds
    gates: Gates = Field(default_factory=Gates)
    ownership: dict[Context, Owner] = Field(default_factory=dict)
    """Who accepts each context's writes at this step; a context not named: the monolith."""
    rollback: str | None = None
    """The step whose routes undo this one (``strangler step apply <that step>``)."""
    retire: Retirement | None = None
    """What the monolith stops serving at this step; read by ``strangler decommission``."""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError(f"{value!r} is not a step id like step-3-catalog-reads")
        return value

    @property
    def number(self) -> int:
        match = STEP_ID.match(self.id)
        assert match is not None  # validated above
        return int(match.group(1))


@dataclass(frozen=True)
class Step:
    manifest: StepManifest
    folder: Path
    routes: RoutesConfig | None

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def number(self) -> int:
        return self.manifest.number

    @property
    def status(self) -> str:
        return self.manifest.status

    @property
    def routes_path(self) -> Path | None:
        return self.folder / self.manifest.routes if self.manifest.routes else None


@dataclass(frozen=True)
class Plan:
    steps: list[Step]

    @property
    def ids(self) -> set[str]:
        return {s.id for s in self.steps}

    def get(self, ref: str) -> Step:
        """A step by number (``2``) or id (``step-2-catalog-shadow``); KeyError otherwise."""
        for step in self.steps:
            if ref in (step.id, str(step.number)):
                return step
        raise KeyError(ref)


def _where(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def load_manifest(path: Path) -> StepManifest:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    except yaml.YAMLError as exc:
        raise PlanError([f"{path}: invalid YAML ({exc})"]) from None
    if not isinstance(document, dict):
        raise PlanError([f"{path}: <root>: expected a mapping (id, title, status, ...)"])
    try:
        return StepManifest.model_validate(document)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            reason = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{path}: {_where(err['loc'])}: {reason}")
        raise PlanError(problems) from None


def _load_routes(path: Path, manifest_path: Path, problems: list[str]) -> RoutesConfig | None:
    if not path.is_file():
        problems.append(f"{manifest_path}: routes: {path.name} does not exist in {path.parent}")
        return None
    try:
        return load_config(path)
    except ConfigError as exc:
        problems.extend(f"{manifest_path}: routes: {path.name}: {p}" for p in exc.problems)
        return None


def _check_step(step: Step, by_id: Mapping[str, Step], problems: list[str]) -> None:
    m, where = step.manifest, step.folder / MANIFEST
    if m.id != step.folder.name:
        problems.append(f"{where}: id: {m.id!r} differs from its folder {step.folder.name!r}")
    if m.rollback is not None:
        target = by_id.get(m.rollback)
        if target is None:
            problems.append(f"{where}: rollback: {m.rollback!r} is not a step of the plan")
        elif target.number >= m.number:
            problems.append(f"{where}: rollback: {m.rollback!r} is not an earlier step")
    elif m.number > 0:
        problems.append(f"{where}: rollback: every step after step 0 names the step to go back to")
    if m.retire is not None:
        for name, capability in m.retire.capabilities.items():
            cutover = by_id.get(capability.cutover)
            if cutover is None or cutover.number >= m.number:
                problems.append(
                    f"{where}: retire.capabilities.{name}.cutover: {capability.cutover!r} is "
                    "not an earlier step of the plan"
                )
            known = {r.id for r in step.routes.routes} if step.routes is not None else None
            for rid in capability.routes:
                if known is not None and rid not in known:
                    problems.append(
                        f"{where}: retire.capabilities.{name}.routes: no route {rid!r} in "
                        f"{m.routes}"
                    )
    if m.status != "planned" and "facade" in m.stack.services and m.routes is None:
        problems.append(f"{where}: routes: a step that runs the facade needs a routes file")
    routes = step.routes
    if routes is None:
        if m.gates.contracts or m.gates.parity:
            problems.append(f"{where}: gates: gates need the step's routes file")
        return
    ids = {r.id for r in routes.routes}
    for rid in m.gates.contracts:
        if rid not in ids:
            problems.append(f"{where}: gates.contracts: no route {rid!r} in {m.routes}")
        elif routes.route(rid).mode not in GATED_MODES:
            problems.append(
                f"{where}: gates.contracts: route {rid!r} is {routes.route(rid).mode} in "
                f"{m.routes}; only canary/extracted routes need a contract gate"
            )
    ungated = [r.id for r in routes.routes if r.mode in GATED_MODES]
    for rid in sorted(set(ungated) - set(m.gates.contracts)):
        problems.append(
            f"{where}: gates.contracts: route {rid!r} goes to {routes.route(rid).mode} in "
            f"{m.routes} without a contract gate; list it"
        )
    if m.gates.parity is not None:
        before = by_id.get(m.rollback or "")
        for rid in m.gates.parity.routes:
            if rid not in ids:
                problems.append(f"{where}: gates.parity.routes: no route {rid!r} in {m.routes}")
            elif before is not None and before.routes is not None:
                shadowed = {r.id for r in before.routes.routes if r.mode == "shadow"}
                if rid not in shadowed:
                    problems.append(
                        f"{where}: gates.parity.routes: {rid!r} is not shadowed at "
                        f"{before.id}, so no comparison can exist for it"
                    )


def load_plan(root: Path = PLAN_DIR) -> Plan:
    """Every ``step-*/step.yaml`` under ``root``, validated, in step order."""
    problems: list[str] = []
    steps: list[Step] = []
    folders = sorted(p for p in root.glob("step-*") if p.is_dir())
    if not folders:
        raise PlanError([f"{root}: no step-N-* folders"])
    for folder in folders:
        path = folder / MANIFEST
        if not path.is_file():
            problems.append(f"{path}: missing: every step folder holds a {MANIFEST}")
            continue
        try:
            manifest = load_manifest(path)
        except PlanError as exc:
            problems.extend(exc.problems)
            continue
        routes = None
        if manifest.routes is not None:
            routes = _load_routes(folder / manifest.routes, path, problems)
        steps.append(Step(manifest, folder, routes))
    steps.sort(key=lambda s: s.number)
    by_id = {s.id: s for s in steps}
    numbers = [s.number for s in steps]
    if numbers and numbers != list(range(len(numbers))) and not problems:
        problems.append(f"{root}: step numbers must run 0, 1, 2, ... without gaps: {numbers}")
    for step in steps:
        _check_step(step, by_id, problems)
    if problems:
        raise PlanError(problems)
    return Plan(steps)


# -- the Migration-Step trailers of the git history


def trailer_problems(plan: Plan, trailers: Iterable[tuple[str, str]]) -> list[str]:
    """What is wrong between the plan and ``(commit, step id)`` trailers.

    Every ``done`` step has exactly one completing commit; a trailer names a known step
    that is done or in progress (a planned step cannot have been completed).
    """
    commits: dict[str, list[str]] = {}
    problems: list[str] = []
    for sha, step_id in trailers:
        commits.setdefault(step_id, []).append(sha[:12])
    for step_id, shas in sorted(commits.items()):
        if step_id not in plan.ids:
            problems.append(
                f"{step_id}: commit {', '.join(shas)} carries Migration-Step: {step_id}, "
                "which no migrations-plan/*/step.yaml declares"
            )
            continue
        status = plan.get(step_id).status
        if status == "planned":
            problems.append(
                f"{step_id}: commit {', '.join(shas)} says it completes this step, but its "
                "step.yaml says planned (set it to in-progress or done)"
            )
    for step in plan.steps:
        found = commits.get(step.id, [])
        if step.status == "done" and len(found) != 1:
            problems.append(
                f"{step.id}: step.yaml says done, so exactly one commit must carry "
                f"Migration-Step: {step.id}; found {len(found)}"
                + (f" ({', '.join(found)})" if found else "")
            )
    return problems


# -- route tables: live vs a step


def mode_label(route: RouteConfig | None) -> str:
    if route is None:
        return "(absent)"
    if route.mode == "canary" and route.percent is not None:
        return f"canary {route.percent:g}%"
    return str(route.mode)


def _without_addresses(config: RoutesConfig) -> dict[str, Any]:
    document: dict[str, Any] = dump_config(config)
    for upstream in document["upstreams"].values():
        for name in ADDRESS_FIELDS:
            upstream.pop(name, None)
    return document


def _ramp_progress(wanted: dict[str, Any], live: dict[str, Any]) -> frozenset[str]:
    """Keys the facade's canary ramp moves by itself: not a difference while it ramps."""
    ramp = wanted.get("ramp")
    if wanted.get("mode") != "canary" or not ramp or live.get("ramp") != ramp:
        return frozenset()
    if live.get("mode") == "canary" or live.get("mode") == ramp.get("finish", "extracted"):
        return frozenset({"mode", "percent"})
    return frozenset()  # rolled back: that is a difference worth showing


def differences(live: RoutesConfig, wanted: RoutesConfig) -> list[str]:
    """Why ``live`` is not ``wanted``, route by route; upstream addresses do not count."""
    have, want = _without_addresses(live), _without_addresses(wanted)
    out: list[str] = []
    live_routes = {r["id"]: r for r in have["routes"]}
    want_routes = {r["id"]: r for r in want["routes"]}
    for rid, route in want_routes.items():
        current = live_routes.get(rid)
        if current is None:
            out.append(f"route {rid}: missing live")
            continue
        ramping = _ramp_progress(route, current)
        for key in route:
            if key in ramping:
                continue
            if route[key] != current.get(key):
                out.append(f"route {rid}: {key} is {current.get(key)!r}, step has {route[key]!r}")
    out.extend(f"route {rid}: live only" for rid in live_routes if rid not in want_routes)
    if [r for r in live_routes if r in want_routes] != [r for r in want_routes if r in live_routes]:
        out.append("routes: same routes in another order (first match wins)")
    for name, upstream in want["upstreams"].items():
        current = have["upstreams"].get(name)
        if current is None:
            out.append(f"upstream {name}: missing live")
        elif current != upstream:
            keys = sorted(k for k in upstream if upstream[k] != current.get(k))
            out.append(f"upstream {name}: {', '.join(keys)} differ")
    out.extend(f"upstream {n}: live only" for n in have["upstreams"] if n not in want["upstreams"])
    return out


def target_document(
    routes_file: Path, live: RoutesConfig | None, env: Mapping[str, str] | None = None
) -> RoutesConfig:
    """The step's routes file as the facade should run it: the file's routes and upstream
    settings, with the live addresses of the upstreams the facade already knows."""
    raw = yaml.safe_load(routes_file.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ConfigError([f"{routes_file}: expected a mapping with 'upstreams' and 'routes'"])
    document = interpolate(raw, os.environ if env is None else env)
    if live is not None and isinstance(document.get("upstreams"), dict):
        known = dump_config(live)["upstreams"]
        for name, upstream in document["upstreams"].items():
            if name in known and isinstance(upstream, dict):
                for key in ADDRESS_FIELDS:
                    upstream[key] = known[name][key]
    return parse_config(document, env={})


@dataclass(frozen=True)
class RouteChange:
    route: str
    old: RouteConfig | None
    new: RouteConfig | None
    fields: tuple[str, ...] = ()
    """Other changed fields (timeout, path, ...), besides mode and percent."""

    @property
    def moved(self) -> bool:
        """The route's traffic goes somewhere else than before."""

        def key(r: RouteConfig | None) -> tuple[Any, ...]:
            return (None,) if r is None else (r.mode, r.percent, r.upstream, r.fallback)

        return key(self.old) != key(self.new)


def route_changes(live: RoutesConfig, target: RoutesConfig) -> list[RouteChange]:
    old = {r.id: r for r in live.routes}
    new = {r.id: r for r in target.routes}
    changes: list[RouteChange] = []
    for rid in [*new, *(r for r in old if r not in new)]:
        before, after = old.get(rid), new.get(rid)
        if before == after:
            continue
        fields: tuple[str, ...] = ()
        if before is not None and after is not None:
            a, b = before.model_dump(), after.model_dump()
            fields = tuple(k for k in b if k not in ("mode", "percent") and a[k] != b[k])
        changes.append(RouteChange(rid, before, after, fields))
    return changes


def upstream_changes(live: RoutesConfig, target: RoutesConfig) -> list[str]:
    have, want = _without_addresses(live)["upstreams"], _without_addresses(target)["upstreams"]
    out = [f"upstream {n}: added" for n in want if n not in have]
    out += [f"upstream {n}: removed" for n in have if n not in want]
    for name in want:
        if name in have and have[name] != want[name]:
            keys = sorted(k for k in want[name] if want[name][k] != have[name].get(k))
            out.append(f"upstream {name}: {', '.join(keys)} changed")
    return out


def matching_step(plan: Plan, live: RoutesConfig) -> tuple[Step | None, Step | None, list[str]]:
    """(the step whose routes the live table runs, else None; the closest step; its
    differences). Later steps win a tie, since a later step is where a walk goes."""
    best: tuple[Step | None, list[str]] = (None, [])
    for step in plan.steps:
        if step.routes is None:
            continue
        diff = differences(live, step.routes)
        if not diff:
            return step, step, []
        if best[0] is None or len(diff) <= len(best[1]):
            best = (step, diff)
    return None, best[0], best[1]


# -- write ownership


def owner(step: Step | None, context: Context) -> Owner:
    return "monolith" if step is None else step.manifest.ownership.get(context, "monolith")


def ownership_to_ensure(leaving: Step | None, target: Step) -> dict[Context, Owner]:
    """The owner each context must have once ``target`` is applied, for the contexts the
    target or the step being left names: only those can have moved, so plans that never
    move writes never touch the databases."""
    named = set(target.manifest.ownership) | set(leaving.manifest.ownership if leaving else ())
    return {context: owner(target, context) for context in sorted(named)}


# -- gates


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    details: list[str] = field(default_factory=list)


def parity_gate(gate: ParityGate, parity: Mapping[str, Any] | None) -> GateResult:
    """``parity`` is the facade's ``GET /_strangler/api/parity`` document (None: no endpoint)."""
    name = f"parity >= {gate.min_match_rate:.2%} over >= {gate.min_compared} comparisons"
    if parity is None:
        return GateResult(
            name, False, ["the facade has no parity endpoint: shadow results are unavailable"]
        )
    found = {str(r.get("route")): r for r in parity.get("routes", []) if isinstance(r, dict)}
    details, passed = [], True
    for rid in gate.routes:
        result = found.get(rid)
        if result is None:
            passed = False
            details.append(f"{rid}: no shadow comparisons (is the route shadowed?)")
            continue
        compared = int(result.get("compared") or 0)
        rate = result.get("match_rate")
        shown = "n/a" if rate is None else f"{float(rate):.2%}"
        line = f"{rid}: {shown} of {compared} matched"
        if compared < gate.min_compared:
            passed = False
            details.append(f"{line}: too few comparisons (need {gate.min_compared})")
        elif rate is None or float(rate) < gate.min_match_rate:
            passed = False
            details.append(f"{line}: below {gate.min_match_rate:.2%}")
        else:
            details.append(line)
    return GateResult(name, passed, details)


def parse_metrics(text: str, names: Iterable[str]) -> dict[str, float]:
    """Unlabelled samples of the given metric names from a Prometheus text exposition."""
    wanted, found = set(names), {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        if name in wanted:
            try:
                found[name] = float(value.split()[0])
            except (ValueError, IndexError):
                continue
    return found
