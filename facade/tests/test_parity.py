"""ParityStore: per-second windows, caps and resets, in memory and in a real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from facade.parity import MemoryParityStore, ParityStore, RedisParityStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def stores(clock: Clock) -> list[ParityStore]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    return [
        MemoryParityStore(clock=clock, window_seconds=600, recent=2),
        RedisParityStore(
            os.environ["REDIS_URL"], prefix, clock=clock, window_seconds=600, recent=2
        ),
    ]


@pytest.mark.parametrize("kind", [0, 1], ids=["memory", "redis"])
def test_window_counts_the_last_seconds(kind: int) -> None:
    clock = Clock()
    store = stores(clock)[kind]

    async def run() -> None:
        await store.start()
        try:
            for step in range(100):  # one comparison a second, every 4th a mismatch
                clock.now = 1_000_000.0 + step
                await store.record("r", step % 4 != 0, ["$.a"], {"n": step})
            assert await store.window("r", 10) == (10, 2)  # seconds 90..99: 92, 96
            assert await store.window("r", 60) == (60, 15)
            assert await store.window("r", 3600) == (100, 25)  # capped at the retention
            assert await store.window("other", 60) == (0, 0)
            clock.now += 30
            assert await store.window("r", 30) == (0, 0)
            doc = await store.route("r")
            assert (doc["compared"], doc["matched"], doc["mismatched"]) == (100, 75, 25)
            assert doc["fields"] == [{"path": "$.a", "mismatches": 25}]
            assert [s["n"] for s in doc["recent"]] == [96, 92]  # the ring keeps the newest
            store.note("r", "dropped")
            store.note("r", "skipped_unsafe")
            await store.record_error("r")
            doc = await store.route("r")
            assert (doc["dropped"], doc["skipped_unsafe"], doc["candidate_errors"]) == (1, 1, 1)
            await store.add_noise("r", ["$.t"])
            assert (await store.noise("r")).fields == {"$.t"}
            assert await store.route_ids() == ["r"]
            await store.reset("r")
            assert await store.window("r", 600) == (0, 0)
            doc = await store.route("r")
            assert (doc["compared"], doc["match_rate"], doc["noise_paths"]) == (0, None, [])
            assert await store.route_ids() == []
        finally:
            await store.aclose()

    asyncio.run(run())
