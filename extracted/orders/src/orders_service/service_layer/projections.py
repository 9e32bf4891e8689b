"""Rebuilding the read model from the event store.

The rebuild replays every stream into a fresh table and swaps it in, in one transaction
that holds ``order_events`` in SHARE mode: readers keep reading the old table, appends
wait until the swap commits (so no change can fall between replay and swap).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text

from orders_service.adapters.event_store import EventStore, project
from orders_service.domain.events import Event, from_data
from orders_service.domain.order import fold

LIVE, FRESH = "order_summaries", "order_summaries_rebuild"
BATCH = 500


@dataclass(frozen=True)
class RebuildReport:
    streams: int
    events: int
    visible: int
    seconds: float


def rebuild(engine: Engine, *, on_progress: Callable[[int], None] | None = None) -> RebuildReport:
    start = time.perf_counter()
    streams = events = visible = 0
    with engine.begin() as conn:
        conn.execute(text("LOCK TABLE order_events IN SHARE MODE"))
        conn.execute(text(f"DROP TABLE IF EXISTS {FRESH}"))
        conn.execute(text(f"CREATE TABLE {FRESH} (LIKE {LIVE} INCLUDING ALL)"))
        store = EventStore(conn)
        after = 0
        while ids := store.stream_ids(after, BATCH):
            rows = conn.execute(
                text("SELECT order_id, event_type, data FROM order_events"
                     " WHERE order_id = ANY(:ids) ORDER BY order_id, version"), {"ids": ids},
            )  # fmt: skip
            streams_of: dict[int, list[Event]] = {}
            for row in rows:
                streams_of.setdefault(row.order_id, []).append(from_data(row.event_type, row.data))
                events += 1
            for stream in streams_of.values():
                order = fold(stream)
                if order is None:
                    continue
                streams += 1
                if order.visible:
                    visible += 1
                    project(conn, order, table=FRESH)
            if on_progress is not None:
                on_progress(len(ids))
            after = ids[-1]
        conn.execute(text(f"DROP TABLE {LIVE}"))
        conn.execute(text(f"ALTER TABLE {FRESH} RENAME TO {LIVE}"))
        names = conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": LIVE}
        ).scalars()
        for name in list(names):
            if name.startswith(FRESH):
                conn.execute(text(f'ALTER INDEX "{name}" RENAME TO '
                                  f'"{LIVE + name[len(FRESH):]}"'))  # fmt: skip
    return RebuildReport(streams, events, visible, time.perf_counter() - start)
