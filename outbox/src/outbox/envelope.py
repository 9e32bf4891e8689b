"""The message every consumer receives: one plain, JSON-serialisable dict."""

from __future__ import annotations

from typing import Any, TypedDict


class Envelope(TypedDict):
    """What the relay sends as the task's only argument (``args=[envelope]``).

    ``version`` is the aggregate's version after this event (1, 2, 3, ... gapless);
    ``created_at`` is ISO 8601 with a UTC offset; ``headers`` carries ``origin``,
    ``traceparent``, ``causation_id``, ``content_type`` and ``schema_version`` when set.
    """

    event_id: str
    aggregate_type: str
    aggregate_id: str
    version: int
    event_type: str
    payload: dict[str, Any]
    headers: dict[str, Any]
    created_at: str


ENVELOPE_KEYS = frozenset(Envelope.__annotations__)


def validate(envelope: Any) -> Envelope:
    """Check a received envelope's shape; raises ``ValueError`` naming what is wrong."""
    if not isinstance(envelope, dict):
        raise ValueError(f"envelope must be a dict, got {type(envelope).__name__}")
    missing = ENVELOPE_KEYS - envelope.keys()
    if missing:
        raise ValueError(f"envelope lacks {', '.join(sorted(missing))}")
    if not isinstance(envelope["version"], int) or envelope["version"] < 1:
        raise ValueError(f"envelope version must be a positive int, got {envelope['version']!r}")
    return envelope  # type: ignore[return-value]
