"""The contract gate: may a route's traffic move to its candidate upstream?

A route may go to ``canary`` or ``extracted`` only when every pact that covers one of
its endpoints (an HTTP interaction whose method and path the route table sends to that
route) was verified green against the route's candidate (its ``upstream``), for the
pact content as it is now. The evidence is the verification ledger that
``contracts`` writes (``.state/contracts/ledger.json`` by default); pacts are the
committed ``contracts/pacts/*.json`` files.

The content hash leaves out the pact's ``metadata`` (tool versions), so regenerating an
unchanged contract with another pact-python does not invalidate a verification, while
any change to an interaction does.

Stdlib + the facade's own matcher only: the facade must not depend on the pact tooling.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facade.config import RoutesConfig
from facade.matching import RouteTable

GATED_MODES = frozenset({"canary", "extracted"})
LEDGER_VERSION = 1


@dataclass(frozen=True, slots=True)
class GateSettings:
    """Environment: ``FACADE_CONTRACT_GATE`` (on/off), ``..._PACTS_DIR``, ``..._LEDGER``."""

    enabled: bool
    pacts_dir: Path
    ledger: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GateSettings:
        env = os.environ if env is None else env
        flag = env.get("FACADE_CONTRACT_GATE", "off").strip().lower()
        return cls(
            enabled=flag in {"1", "on", "true", "yes"},
            pacts_dir=Path(env.get("FACADE_CONTRACT_PACTS_DIR") or "contracts/pacts"),
            ledger=Path(
                env.get("FACADE_CONTRACT_LEDGER")
                or env.get("CONTRACTS_LEDGER")
                or ".state/contracts/ledger.json"
            ),
        )


@dataclass(frozen=True, slots=True)
class PactFile:
    path: Path
    consumer: str
    provider: str
    content_hash: str
    endpoints: tuple[tuple[str, str], ...]
    """(method, path) of every HTTP interaction; empty for message pacts."""
    interactions: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class GateDecision:
    route: str
    candidate: str
    allowed: bool
    reasons: tuple[str, ...] = ()
    pacts: tuple[str, ...] = ()
    checked: dict[str, str] = field(default_factory=dict)
    """pact file -> "green" or the reason it is not."""

    def summary(self) -> str:
        if self.allowed:
            return (
                f"route {self.route}: {self.candidate} verified green for {', '.join(self.pacts)}"
            )
        return f"route {self.route} -> {self.candidate} refused: " + "; ".join(self.reasons)


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the pact without ``metadata``, keys sorted: stable across tool versions."""
    body = {k: v for k, v in document.items() if k != "metadata"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_pact(path: Path) -> PactFile:
    document = json.loads(path.read_text(encoding="utf-8"))
    endpoints: list[tuple[str, str]] = []
    interactions = document.get("interactions") or document.get("messages") or []
    for interaction in interactions:
        request = interaction.get("request")
        if isinstance(request, dict) and "path" in request:
            endpoints.append((str(request.get("method", "GET")).upper(), str(request["path"])))
    return PactFile(
        path=path,
        consumer=str(document.get("consumer", {}).get("name", "?")),
        provider=str(document.get("provider", {}).get("name", "?")),
        content_hash=content_hash(document),
        endpoints=tuple(endpoints),
        interactions=len(interactions),
    )


def read_pacts(pacts_dir: Path) -> list[PactFile]:
    if not pacts_dir.is_dir():
        return []
    return [read_pact(p) for p in sorted(pacts_dir.glob("*.json"))]


def read_ledger(path: Path) -> dict[str, Any]:
    """``{"version": 1, "entries": {"<implementation>/<pact file>": {...}}}``; empty if absent."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": LEDGER_VERSION, "entries": {}}
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise ValueError(f"{path}: not a verification ledger")
    return data


def ledger_key(implementation: str, pact_name: str) -> str:
    return f"{implementation}/{pact_name}"


def pacts_covering(
    config: RoutesConfig, route_id: str, pacts: Iterable[PactFile]
) -> list[PactFile]:
    """Pacts with at least one HTTP interaction the route table sends to ``route_id``."""
    table = RouteTable.build(config)
    covering = []
    for pact in pacts:
        for method, path in pact.endpoints:
            route, _ = table.match(method, path.split("?", 1)[0])
            if route.id == route_id:
                covering.append(pact)
                break
    return covering


def evaluate(
    config: RoutesConfig,
    route_id: str,
    pacts: list[PactFile],
    ledger: Mapping[str, Any],
    *,
    candidate: str | None = None,
) -> GateDecision:
    """The decision, with a reason per pact that is not green for the current content."""
    route = config.route(route_id)  # KeyError for an unknown route
    who = candidate or route.upstream
    covering = pacts_covering(config, route_id, pacts)
    if not covering:
        return GateDecision(
            route_id,
            who,
            False,
            (
                f"no pact covers route {route_id} ({route.path}): nothing proves {who} keeps "
                "its clients' contracts",
            ),
        )
    entries = ledger.get("entries", {})
    reasons: list[str] = []
    checked: dict[str, str] = {}
    for pact in covering:
        entry = entries.get(ledger_key(who, pact.name))
        if entry is None:
            why = f"{pact.name} was never verified against {who}"
        elif entry.get("content_hash") != pact.content_hash:
            why = (
                f"{pact.name} changed since {who} was verified against it "
                f"(at {entry.get('verified_at', '?')})"
            )
        elif entry.get("result") != "passed":
            detail = "; ".join(entry.get("failures", [])[:3]) or "see the verification output"
            why = f"{pact.name} failed against {who} at {entry.get('verified_at', '?')}: {detail}"
        elif int(entry.get("interactions", 0)) < 1:
            why = f"{pact.name} verification against {who} checked zero interactions"
        else:
            checked[pact.name] = "green"
            continue
        checked[pact.name] = why
        reasons.append(why)
    return GateDecision(
        route_id, who, not reasons, tuple(reasons), tuple(p.name for p in covering), checked
    )


def check(
    config: RoutesConfig,
    route_id: str,
    settings: GateSettings | None = None,
    *,
    candidate: str | None = None,
) -> GateDecision:
    settings = settings or GateSettings.from_env()
    try:
        ledger = read_ledger(settings.ledger)
    except (OSError, ValueError) as exc:
        route = config.route(route_id)
        return GateDecision(
            route_id, candidate or route.upstream, False, (f"cannot read the ledger: {exc}",)
        )
    return evaluate(config, route_id, read_pacts(settings.pacts_dir), ledger, candidate=candidate)


async def guard_route_change(
    state: Any,
    route_id: str,
    changes: Mapping[str, Any],
    *,
    who: str,
    force: bool,
    settings: GateSettings,
) -> GateDecision | None:
    """Run the gate for an admin route change; the refusal, or None to go ahead.

    ``state`` is the facade's ``RouteState`` (its config and audit log). A refusal and a
    forced override are both written to the audit log; an override also goes to stderr.
    """
    if not settings.enabled:
        return None
    try:
        current = state.config.route(route_id)
    except KeyError:
        return None  # the caller answers 404
    mode = changes.get("mode", current.mode)
    if mode not in GATED_MODES:
        return None
    candidate = str(changes.get("upstream") or current.upstream)
    decision = check(state.config, route_id, settings, candidate=candidate)
    return await _enforce(state, decision, mode, who=who, force=force)


async def guard_document_change(
    state: Any, document: Any, *, who: str, force: bool, settings: GateSettings
) -> list[GateDecision]:
    """The gate for a whole routes document (``PUT config``): every route it moves.

    A route is gated when the document puts it in canary or extracted mode and it was not
    there already with the same candidate. Returns the refusals (empty: go ahead). A
    document that does not parse is left to the caller's validation.
    """
    from facade.config import ConfigError, parse_config

    if not settings.enabled:
        return []
    try:
        new = parse_config(document)
    except ConfigError:
        return []
    old = {r.id: r for r in state.config.routes}
    refusals: list[GateDecision] = []
    for route in new.routes:
        before = old.get(route.id)
        if route.mode not in GATED_MODES or (
            before is not None and before.mode in GATED_MODES and before.upstream == route.upstream
        ):
            continue
        decision = check(new, route.id, settings, candidate=route.upstream)
        refusal = await _enforce(state, decision, route.mode, who=who, force=force)
        if refusal is not None:
            refusals.append(refusal)
    return refusals


async def _enforce(
    state: Any, decision: GateDecision, mode: str, *, who: str, force: bool
) -> GateDecision | None:
    from facade.state import _now, log_event

    if decision.allowed:
        return None
    route_id, candidate = decision.route, decision.candidate
    entry = {
        "at": _now(),
        "who": who,
        "source": "admin",
        "action": "contract-gate",
        "route": route_id,
        "mode": mode,
        "candidate": candidate,
        "reasons": list(decision.reasons),
    }
    if force:
        await state.audit.record({**entry, "result": "FORCED OVERRIDE"})
        log_event(
            "contract_gate_forced",
            route=route_id,
            mode=mode,
            candidate=candidate,
            who=who,
            warning="CONTRACT GATE OVERRIDDEN: the candidate is not verified green",
            reasons=list(decision.reasons),
        )
        return None
    await state.audit.record({**entry, "result": "refused"})
    log_event("contract_gate_refused", route=route_id, mode=mode, reasons=list(decision.reasons))
    return decision
