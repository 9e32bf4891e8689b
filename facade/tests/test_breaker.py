from facade.breaker import BreakerState, CircuitBreaker
from facade.config import BreakerConfig


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_then_half_open_then_closes() -> None:
    clock = Clock()
    seen: list[BreakerState] = []
    b = CircuitBreaker(BreakerConfig(failure_threshold=3, reset_timeout=5), clock, seen.append)
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.retry_after() == 5
    clock.now += 5
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()
    assert not b.allow()  # one probe at a time
    b.record_success()
    assert b.state is BreakerState.CLOSED
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_failed_probe_reopens_and_success_resets_the_count() -> None:
    clock = Clock()
    b = CircuitBreaker(BreakerConfig(failure_threshold=2, reset_timeout=1), clock)
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.now += 1
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()


def test_release_frees_a_probe_slot() -> None:
    clock = Clock()
    b = CircuitBreaker(BreakerConfig(failure_threshold=1, reset_timeout=1), clock)
    b.record_failure()
    clock.now += 1
    assert b.allow()
    b.release()
    assert b.allow()
