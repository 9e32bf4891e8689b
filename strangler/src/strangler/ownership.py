"""Moving catalog write ownership between the monolith and the catalog service.

``switch(to="service")``: freeze both sides (the old owner's flag update waits for its
writes in flight: they hold the flag row under a share lock), drain the old owner's
outbox until every event is published AND the new owner's consumer has applied each
aggregate's last version, then unfreeze the new owner. ``switch(to="monolith")`` is the
same in reverse: the rollback. A drain that does not finish in time (a relay or consumer
down, an event parked) unfreezes the old owner again and raises ``SwitchFailed``: the
flags are then as they were, nothing is lost, nothing was flipped.

Both sides keep the flag in a one-row table ``catalog_write_freeze`` (created by the
monolith's catalog migration 0002 and the catalog service's Alembic revision 0003).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import psycopg

Side = Literal["monolith", "service"]
SIDES: tuple[Side, Side] = ("monolith", "service")
# The consumer (inbox name) on each side that applies the OTHER side's events.
CONSUMER_OF: dict[Side, str] = {"monolith": "shop.catalog-sync", "service": "catalog.sync"}


class SwitchFailed(Exception):
    pass


@dataclass(frozen=True)
class Databases:
    monolith: str
    service: str

    def of(self, side: Side) -> str:
        return self.monolith if side == "monolith" else self.service


@dataclass
class Lag:
    unpublished: int = 0
    behind: dict[str, tuple[int, int]] = field(default_factory=dict)  # aggregate: (sent, applied)
    parked: int = 0

    @property
    def zero(self) -> bool:
        return not self.unpublished and not self.behind

    def describe(self) -> str:
        sample = ", ".join(f"{k} v{a}/v{s}" for k, (s, a) in list(self.behind.items())[:5])
        return (
            f"{self.unpublished} unpublished event(s); {len(self.behind)} aggregate(s) not "
            f"applied yet{f' ({sample})' if sample else ''}; {self.parked} parked"
        )


@dataclass(frozen=True)
class Ownership:
    frozen: dict[Side, bool]

    @property
    def owner(self) -> Side | None:
        """The one side whose writes are open; None while both (or neither) are."""
        open_sides = [s for s in SIDES if not self.frozen[s]]
        return open_sides[0] if len(open_sides) == 1 else None


def other(side: Side) -> Side:
    return "service" if side == "monolith" else "monolith"


def set_frozen(dsn: str, frozen: bool) -> None:
    """Flip one side's flag; waits for that side's writes in flight (their share lock)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET LOCAL lock_timeout = '30s'")
        conn.execute("UPDATE catalog_write_freeze SET frozen = %s, changed_at = now()", (frozen,))


def frozen(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT frozen FROM catalog_write_freeze").fetchone()
    return row is None or bool(row[0])


def status(dbs: Databases) -> Ownership:
    return Ownership({side: frozen(dbs.of(side)) for side in SIDES})


def lag(dbs: Databases, source: Side, *, consumer: str | None = None) -> Lag:
    """How far the other side is behind ``source``'s outbox (``consumer``: the inbox
    name that applies it there; default: the catalog sync's)."""
    target = other(source)
    consumer = consumer or CONSUMER_OF[target]
    with psycopg.connect(dbs.of(source)) as conn:
        unpublished = conn.execute(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        ).fetchone()
        sent = conn.execute(
            "SELECT aggregate_type || ':' || aggregate_id, max(version) FROM outbox GROUP BY 1"
        ).fetchall()
    with psycopg.connect(dbs.of(target)) as conn:
        applied: dict[str, int] = dict(
            conn.execute(
                "SELECT aggregate_type || ':' || aggregate_id, version"
                " FROM inbox_applied_version WHERE consumer = %s",
                (consumer,),
            ).fetchall()
        )
        parked = conn.execute(
            "SELECT count(*) FROM parked_events WHERE consumer = %s", (consumer,)
        ).fetchone()
    result = Lag(unpublished=int(unpublished[0]) if unpublished else 0,
                 parked=int(parked[0]) if parked else 0)  # fmt: skip
    for key, version in sent:
        done = int(applied.get(key, 0))
        if done < int(version):
            result.behind[key] = (int(version), done)
    return result


def drain(
    dbs: Databases,
    source: Side,
    *,
    timeout: float,
    consumer: str | None = None,
    poll: float = 0.2,
    progress: Callable[[Lag], None] | None = None,
) -> Lag:
    """Wait until ``source``'s outbox is published and applied on the other side by
    ``consumer`` (default: the catalog sync's)."""
    consumer = consumer or CONSUMER_OF[other(source)]
    deadline = time.monotonic() + timeout
    while True:
        current = lag(dbs, source, consumer=consumer)
        if progress is not None:
            progress(current)
        if current.zero:
            return current
        if current.parked:
            raise SwitchFailed(
                f"the {other(source)} side has parked events of consumer "
                f"{consumer!r}: release them (python -m outbox parked "
                f"release) before switching; {current.describe()}"
            )
        if time.monotonic() > deadline:
            raise SwitchFailed(
                f"the {source}'s outbox did not drain within {timeout:.0f}s: "
                f"{current.describe()}. Are its relay and the {other(source)}'s consumer running?"
            )
        time.sleep(poll)


def switch(
    dbs: Databases,
    to: Side,
    *,
    timeout: float = 60.0,
    poll: float = 0.2,
    progress: Callable[[Lag], None] | None = None,
) -> Lag:
    """Make ``to`` the only side that accepts catalog writes; see the module docstring."""
    old = other(to)
    was_frozen = frozen(dbs.of(old))
    set_frozen(dbs.of(to), True)  # nobody writes while the old owner's changes cross over
    set_frozen(dbs.of(old), True)
    try:
        final = drain(dbs, old, timeout=timeout, poll=poll, progress=progress)
    except BaseException:
        if not was_frozen:
            set_frozen(dbs.of(old), False)  # as it was: the old owner keeps writing
        raise
    set_frozen(dbs.of(to), False)
    return final
