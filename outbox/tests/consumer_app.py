"""The Celery app the tests' worker subprocesses run (``celery -A consumer_app worker``).

Its handler's behaviour is steered by the event payload:
  ``poison``: raise, unless the file $OUTBOX_TEST_FIXED exists (the "fix");
  ``block_once``: the first time, write this process's pid to $OUTBOX_TEST_MARKER and
  block (the test kills the worker); afterwards apply normally;
  ``kill_worker``: SIGKILL the process running the task (a worker-killing poison).
``OUTBOX_TEST_BATCH=N`` (N > 1) makes the task a batching one (run it with ``-P solo``).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from celery import Celery

from outbox.envelope import Envelope
from outbox.inbox import Consumer, configure_celery, make_consumer_task

app = Celery("outbox_test_consumer", broker=os.environ["OUTBOX_TEST_BROKER"])
BATCH = int(os.environ.get("OUTBOX_TEST_BATCH", "1"))
configure_celery(
    app,
    visibility_timeout=float(os.environ.get("OUTBOX_TEST_VISIBILITY", "3600")),
    batch_size=BATCH,
)


def handler(cursor: Any, envelope: Envelope) -> None:
    payload = envelope["payload"]
    if payload.get("poison") and not os.path.exists(
        os.environ.get("OUTBOX_TEST_FIXED", "/nonexistent")
    ):
        raise RuntimeError(f"cannot apply {envelope['event_type']}: poison")
    if payload.get("kill_worker"):
        os.kill(os.getpid(), signal.SIGKILL)
    if payload.get("block_once"):
        marker = os.environ["OUTBOX_TEST_MARKER"]
        if not os.path.exists(marker):
            with open(marker, "w") as out:
                out.write(str(os.getpid()))
            threading.Event().wait(600)  # until the test kills this process
    cursor.execute(
        """INSERT INTO applied_log (consumer, event_id, aggregate_type, aggregate_id, version, pid)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (
            consumer.name,
            envelope["event_id"],
            envelope["aggregate_type"],
            envelope["aggregate_id"],
            envelope["version"],
            os.getpid(),
        ),
    )


consumer = Consumer(
    os.environ.get("OUTBOX_TEST_CONSUMER", "test"),
    handler,
    dsn=os.environ["OUTBOX_TEST_DSN"],
    ordering=os.environ.get("OUTBOX_TEST_ORDERING", "latest"),  # type: ignore[arg-type]
    max_attempts=int(os.environ.get("OUTBOX_TEST_MAX_ATTEMPTS", "3")),
    backoff_base=0.05,
)
task = make_consumer_task(
    app,
    os.environ.get("OUTBOX_TEST_TASK", "outbox.test.apply"),
    consumer,
    batch_size=BATCH,
    flush_interval=0.05,
)
