"""The parity-gated canary ramp: advance step by step while healthy, roll back by itself.

A route in ``canary`` mode with a ``ramp`` block moves through the ramp's percentages
(for example 1, 5, 25, 50, 100). Every ``tick`` the controller judges each such route:

- **roll back** at once, to the ramp's ``rollback_to`` mode (shadow by default), when
  over the last ``fast_window`` seconds the candidate's error rate (5xx answers plus
  failures the monolith had to cover) exceeds ``max_error_rate`` on at least
  ``min_requests_fast`` requests, when its breaker is open, when parity over the hold
  window falls below ``min_match_rate``, or when the contract gate no longer holds;
- **advance** to the next percentage once the current one has held ``hold`` seconds with
  at least ``min_requests`` candidate requests, an error rate within bounds and, when
  ``min_compared`` > 0, that many shadow comparisons (of the monolith's share, mirrored
  to the candidate) at or above ``min_match_rate``; after the last step the route goes
  to ``finish`` (``extracted`` by default).

Every change goes through ``RouteState.set_route`` (so replicas follow within the sync
interval, well under a second with Redis) and is written to the audit log with its
reason and logged. Rolling back is the safe direction, so every replica may do it from
what it saw itself; advancing is left to one leader (a Redis lock; a lone facade is
its own leader), so two replicas never step a route twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from facade.breaker import BreakerState
from facade.config import RampConfig
from facade.gate import GateSettings, check
from facade.state import RouteState, log_event
from facade.window import RollingStats

log = logging.getLogger("facade.ramp")

ParityWindow = Callable[[str, float], Awaitable[tuple[int, int]]]
"""(route id, seconds) -> (compared, mismatched) over that window."""


@dataclass(frozen=True)
class Verdict:
    route_id: str
    action: str  # "hold", "advance", "finish", "rollback"
    reason: str
    percent: float | None = None


class RampController:
    def __init__(
        self,
        state: RouteState,
        stats: RollingStats,
        parity: ParityWindow | None,
        *,
        gate: GateSettings | None = None,
        is_leader: Callable[[], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.stats = stats
        self.parity = parity
        self.gate = gate
        self.is_leader = is_leader
        self.clock = clock
        self._since: dict[str, tuple[float, float]] = {}  # route -> (percent, since)
        self._gate_cache: dict[tuple[str, int], tuple[float, str | None]] = {}

    async def tick(self) -> list[Verdict]:
        """Judge every ramping route once; apply roll-backs and (as leader) advances."""
        verdicts: list[Verdict] = []
        leader: bool | None = None
        now = self.clock()
        ramping = {
            r.id: r.config
            for r in self.state.snapshot.table.routes
            if r.config.mode == "canary" and r.config.ramp is not None
        }
        for stale in set(self._since) - set(ramping):
            del self._since[stale]
        for route_id, config in ramping.items():
            ramp = config.ramp
            assert ramp is not None
            percent = float(config.percent or 0.0)
            held = self._since.get(route_id)
            if held is None or held[0] != percent:
                self._since[route_id] = held = (percent, now)
            verdict = await self._judge(route_id, config, ramp, percent, now - held[1])
            verdicts.append(verdict)
            if verdict.action == "rollback":
                await self._rollback(route_id, ramp, verdict)
            elif verdict.action in ("advance", "finish"):
                if leader is None:
                    leader = self.is_leader is None or await self.is_leader()
                if leader:
                    await self._advance(route_id, ramp, verdict)
        return verdicts

    async def _judge(
        self, route_id: str, config: Any, ramp: RampConfig, percent: float, held_for: float
    ) -> Verdict:
        candidate = config.upstream
        upstream = self.state.snapshot.upstreams.get(candidate)
        if upstream is not None and upstream.breaker.state is BreakerState.OPEN:
            return Verdict(route_id, "rollback", f"the {candidate} breaker is open")
        fast = self.stats.route(route_id, (candidate,), seconds=ramp.fast_window)[candidate]
        failed = fast["errors"] + fast["failovers"]
        tried = fast["requests"] + fast["failovers"]
        if tried >= ramp.min_requests_fast and failed / tried > ramp.max_error_rate:
            return Verdict(route_id, "rollback", f"candidate error rate {failed / tried:.1%} "
                           f"over the last {ramp.fast_window}s ({failed}/{tried})")  # fmt: skip
        refusal = self._gate_refusal(route_id)
        if refusal is not None:
            return Verdict(route_id, "rollback", f"contract gate: {refusal}")
        window = int(max(1, min(held_for, ramp.hold)))
        compared = mismatched = 0
        # At 100 % the monolith answers nobody, so there is no share left to compare.
        parity_gate = bool(ramp.min_compared) and percent < 100 and self.parity is not None
        if parity_gate:
            assert self.parity is not None
            compared, mismatched = await self.parity(route_id, window)
            if compared >= ramp.min_compared:
                rate = (compared - mismatched) / compared
                if rate < ramp.min_match_rate:
                    return Verdict(route_id, "rollback", f"parity {rate:.1%} < "
                                   f"{ramp.min_match_rate:.1%} ({compared} compared)")  # fmt: skip
        if held_for < ramp.hold:
            return Verdict(
                route_id, "hold", f"holding {percent:g}% ({held_for:.0f}/{ramp.hold:g}s)"
            )
        slow = self.stats.route(route_id, (candidate,), seconds=window)[candidate]
        tried = slow["requests"] + slow["failovers"]
        failed = slow["errors"] + slow["failovers"]
        if tried < ramp.min_requests:
            return Verdict(route_id, "hold", f"{tried}/{ramp.min_requests} candidate requests")
        if failed / tried > ramp.max_error_rate:
            return Verdict(route_id, "rollback", f"candidate error rate {failed / tried:.1%} "
                           f"over {window}s ({failed}/{tried})")  # fmt: skip
        if parity_gate and compared < ramp.min_compared:
            return Verdict(route_id, "hold", f"{compared}/{ramp.min_compared} comparisons")
        health = f"{tried} requests, error rate {failed / tried:.1%}"
        if parity_gate:
            health += f", parity {(compared - mismatched) / compared:.1%}"
        later = [p for p in ramp.steps if p > percent]
        if later:
            return Verdict(route_id, "advance", f"{percent:g}% held {window}s: {health}", later[0])
        return Verdict(route_id, "finish", f"{percent:g}% held {window}s: {health}")

    def _gate_refusal(self, route_id: str) -> str | None:
        """The contract gate's refusal for the route, re-read at most every 5 s."""
        if self.gate is None or not self.gate.enabled:
            return None
        key = (route_id, self.state.snapshot.version)
        cached = self._gate_cache.get(key)
        if cached is not None and self.clock() - cached[0] < 5.0:
            return cached[1]
        decision = check(self.state.config, route_id, self.gate)
        refusal = None if decision.allowed else "; ".join(decision.reasons) or "refused"
        self._gate_cache = {key: (self.clock(), refusal)}
        return refusal

    async def _rollback(self, route_id: str, ramp: RampConfig, verdict: Verdict) -> None:
        await self._change(route_id, {"mode": ramp.rollback_to}, "ramp-rollback", verdict)
        log.warning("ramp: rolled %s back to %s: %s", route_id, ramp.rollback_to, verdict.reason)

    async def _advance(self, route_id: str, ramp: RampConfig, verdict: Verdict) -> None:
        if verdict.action == "finish":
            changes: dict[str, Any] = {"mode": ramp.finish}
            if ramp.finish == "canary":
                return  # stays at 100 % canary: nothing to change
        else:
            changes = {"percent": verdict.percent}
        await self._change(route_id, changes, f"ramp-{verdict.action}", verdict)
        log.info("ramp: %s %s -> %s: %s", route_id, verdict.action, changes, verdict.reason)

    async def _change(
        self, route_id: str, changes: dict[str, Any], action: str, verdict: Verdict
    ) -> None:
        # One audit entry: the table change itself, with the ramp's action and reason.
        await self.state.set_route(
            route_id, changes, who="ramp", source="ramp", action=action, reason=verdict.reason
        )
        self._since.pop(route_id, None)
        log_event(action.replace("-", "_"), route=route_id, reason=verdict.reason, **changes)

    async def run(self, interval: float = 0.25) -> None:
        """Tick until cancelled; a failing tick is logged and the next one tries again."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ramp: tick failed")
            await asyncio.sleep(interval)


def redis_leader(redis: Any, key: str, ttl: float = 3.0) -> Callable[[], Awaitable[bool]]:
    """Leader election for advancing: hold ``key`` (SET NX PX), renewed on every call."""
    me = f"{os.getpid()}-{id(redis)}"

    async def is_leader() -> bool:
        with contextlib.suppress(Exception):
            if await redis.set(key, me, nx=True, px=int(ttl * 1000)):
                return True
            holder = await redis.get(key)
            if (
                holder is not None
                and (holder.decode() if isinstance(holder, bytes) else holder) == me
            ):
                await redis.pexpire(key, int(ttl * 1000))
                return True
        return False

    return is_leader
