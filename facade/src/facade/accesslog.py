"""JSON access log lines on stdout, written in batches so logging stays off the hot path.

Each line has the fields every component's log lines have (``shop_telemetry.logs``:
timestamp, level, component, logger, message, request_id, trace_id) and the request's.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any

import orjson


class AccessLog:
    def __init__(self, stream: IO[bytes] | None = None, flush_interval: float = 0.2) -> None:
        self._stream = stream
        self._lines: list[bytes] = []
        self._size = 0
        self._interval = flush_interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def write(self, record: dict[str, Any]) -> None:
        common = {
            "timestamp": datetime.fromtimestamp(record.get("ts") or time.time(), UTC),
            "level": "INFO",
            "component": "facade",
            "logger": "facade.access",
            "message": f"{record.get('method')} {record.get('path')} {record.get('status')}",
        }
        line = orjson.dumps(common | record, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z)
        self._lines.append(line)
        self._size += len(line)
        if self._size >= 65536 or self._task is None:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        data = b"".join(self._lines)
        self._lines.clear()
        self._size = 0
        stream = self._stream if self._stream is not None else sys.stdout.buffer
        try:
            stream.write(data)
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed stdout must not break proxying

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.flush()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()
