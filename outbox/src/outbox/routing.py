"""Which Celery task and queue each event goes to.

One queue per consumer is the bulkhead: a slow or stuck consumer backs up only its own
queue. A route may also spread its aggregates over ``lanes`` queues
(``catalog.0`` ... ``catalog.N-1``) by a stable hash of the aggregate: with one worker
process (concurrency 1, prefetch 1) per lane, each aggregate's events are applied
strictly in order while N lanes run in parallel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from outbox.envelope import Envelope


@dataclass(frozen=True)
class Route:
    """Send to ``task_name`` on ``queue`` (or on one of its ``lanes`` lane queues)."""

    task_name: str
    queue: str
    lanes: int = 1

    def __post_init__(self) -> None:
        if self.lanes < 1:
            raise ValueError("lanes must be at least 1")

    def queue_for(self, aggregate_type: str, aggregate_id: str) -> str:
        if self.lanes == 1:
            return self.queue
        return f"{self.queue}.{lane_of(aggregate_type, aggregate_id, self.lanes)}"

    def queues(self) -> list[str]:
        """Every queue of this route: what the workers must consume (``-Q``)."""
        if self.lanes == 1:
            return [self.queue]
        return [f"{self.queue}.{lane}" for lane in range(self.lanes)]


@dataclass(frozen=True)
class Destination:
    task_name: str
    queue: str


RouteFunction = Callable[[Envelope], Sequence[Destination]]


def lane_of(aggregate_type: str, aggregate_id: str, lanes: int) -> int:
    """A stable lane (not Python's salted ``hash``): same aggregate, same lane, any process."""
    digest = hashlib.blake2b(f"{aggregate_type}\x1f{aggregate_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") % lanes


class Router:
    """Routes by event type first, then aggregate type, then ``default``.

    Each key maps to one or more routes: an event that two consumers need goes to both
    queues (fan-out), each consumer deduplicating on its own. An event with no route is
    an error at the relay (the row stays unpublished and its aggregate waits): losing it
    silently would be worse.
    """

    def __init__(
        self,
        routes: Mapping[str, Route | Sequence[Route]] | None = None,
        default: Route | Sequence[Route] | None = None,
    ) -> None:
        self._routes = {key: _as_list(value) for key, value in (routes or {}).items()}
        self._default = _as_list(default) if default is not None else []

    def __call__(self, envelope: Envelope) -> list[Destination]:
        routes = (
            self._routes.get(envelope["event_type"])
            or self._routes.get(envelope["aggregate_type"])
            or self._default
        )
        if not routes:
            raise LookupError(
                f"no route for event {envelope['event_type']} of {envelope['aggregate_type']}"
            )
        return [
            Destination(
                r.task_name, r.queue_for(envelope["aggregate_type"], envelope["aggregate_id"])
            )
            for r in routes
        ]


def _as_list(value: Route | Sequence[Route]) -> list[Route]:
    return [value] if isinstance(value, Route) else list(value)
