"""A per-upstream circuit breaker: closed -> open -> half-open -> closed.

Closed counts consecutive failures; at ``failure_threshold`` it opens and refuses
every call for ``reset_timeout`` seconds. Then it lets ``half_open_max`` probe calls
through: a success closes it, a failure opens it again for another period.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from facade.config import BreakerConfig


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    __slots__ = (
        "_clock",
        "_failures",
        "_on_change",
        "_opened_at",
        "_probes",
        "_state",
        "config",
    )

    def __init__(
        self,
        config: BreakerConfig,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.config.reset_timeout
        ):
            self._set(BreakerState.HALF_OPEN)
            self._probes = 0
        return self._state

    def retry_after(self) -> float:
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.config.reset_timeout - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Reserve a call; every allowed call must end in record_success/failure/release."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probes < self.config.half_open_max:
            self._probes += 1
            return True
        return False

    def record_success(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            self._set(BreakerState.CLOSED)
        self._failures = 0

    def record_failure(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            self._open()
            return
        if self._state is BreakerState.OPEN:
            return
        self._failures += 1
        if self._failures >= self.config.failure_threshold:
            self._open()

    def release(self) -> None:
        """A call that neither succeeded nor failed (e.g. the client went away)."""
        if self._state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._failures = 0
        self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
