"""A Celery task that takes its messages in small batches: one transaction per batch.

The relay still publishes one Celery task message per event (task id = event id), and
any plain Celery worker can still run them one by one. A worker whose task is built
with ``batch_size > 1`` instead buffers the messages it receives and hands them to
``Consumer.process_batch`` together, when ``batch_size`` are buffered or
``flush_interval`` seconds after the first one arrived, whichever comes first. Under a
light load a batch is a single event (latency stays a few milliseconds); under a heavy
one the per-event costs (a Celery execution, a commit, a version check) are shared.

Delivery guarantees are unchanged: every message of a batch is acknowledged only after
the batch's transaction committed (late acks); if the worker dies first, they are all
redelivered and the inbox turns the ones already applied into no-ops. The batch runs
in the worker's main process, in message order, so run such a worker with ``-P solo``
(one lane, one process); the broker's prefetch must admit a whole batch, which
``configure_celery(app, batch_size=N)`` sets.

Built on Celery's task-strategy hook (the one celery-batches uses); the tests run real
workers, so a Celery upgrade that changed the hook would fail them, not lose messages.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from celery import Celery, Task
from celery.utils.imports import symbol_by_name
from celery.worker.request import create_request_cls
from celery.worker.strategy import hybrid_to_proto2, proto1_to_proto2

log = logging.getLogger("outbox.batching")

BatchRunner = Callable[[list[Any], list[bool]], list[Any]]
"""(envelopes, redelivered flags) -> one result per envelope."""


class BatchTask(Task):  # type: ignore[misc]
    """Base class: set ``batch_size``, ``flush_interval`` and ``run_batch``."""

    abstract = True
    batch_size = 100
    flush_interval = 0.01
    run_batch: BatchRunner

    def Strategy(self, task: Task, app: Celery, consumer: Any) -> Callable[..., None]:
        request_cls = create_request_cls(
            symbol_by_name(task.Request),
            task,
            consumer.pool,
            consumer.hostname,
            consumer.event_dispatcher,
            app=app,
        )
        timer = consumer.timer
        buffer: list[Any] = []
        pending: list[Any] = []  # the timer entry, while one is set

        def flush() -> None:
            if pending:
                timer.cancel(pending.pop())
            if not buffer:
                return
            requests = buffer[:]
            buffer.clear()
            envelopes = [(r.args or [None])[0] for r in requests]
            redelivered = [bool((r.delivery_info or {}).get("redelivered")) for r in requests]
            try:
                self.run_batch(envelopes, redelivered)
            except Exception:
                # Not acknowledged: back to the broker, redelivered, deduplicated there.
                log.exception("%s: a batch of %d failed; requeued", task.name, len(requests))
                for request in requests:
                    request.reject(requeue=True)
                return
            with _acks_batched(requests):
                for request in requests:
                    request.acknowledge()

        def on_message(
            message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **_: Any
        ) -> None:
            if body is None and "args" not in message.payload:
                body, headers, decoded, utc = (
                    message.body, message.headers, False, app.uses_utc_timezone(),
                )  # fmt: skip
            elif "args" in message.payload:
                body, headers, decoded, utc = hybrid_to_proto2(message, message.payload)
            else:
                body, headers, decoded, utc = proto1_to_proto2(message, body)
            buffer.append(
                request_cls(
                    message,
                    on_ack=ack,
                    on_reject=reject,
                    app=app,
                    hostname=consumer.hostname,
                    eventer=consumer.event_dispatcher,
                    task=task,
                    connection_errors=consumer.connection_errors,
                    body=body,
                    headers=headers,
                    decoded=decoded,
                    utc=utc,
                )
            )
            if len(buffer) >= self.batch_size:
                flush()
            elif not pending:
                pending.append(timer.call_after(self.flush_interval, flush))

        return on_message


@contextlib.contextmanager
def _acks_batched(requests: list[Any]) -> Iterator[None]:
    """One round trip for the batch's acks where the transport can (outbox.redis_transport).

    Only ever later than one by one, never earlier: the batch has committed already. In
    Celery's event loop each ack is deferred to a loop callback and the transport sends
    one loop iteration's acks together instead; this covers a worker without that loop.
    """
    try:
        with contextlib.ExitStack() as stack:
            seen: set[int] = set()
            for request in requests:
                qos = getattr(getattr(request.message, "channel", None), "qos", None)
                batched = getattr(qos, "batched_acks", None)
                if batched is not None and id(qos) not in seen:
                    seen.add(id(qos))
                    stack.enter_context(batched())
            yield
    except Exception:
        # As kombu's own failed ack: logged, and the messages stay unacknowledged, to be
        # restored after the visibility timeout and deduplicated by the inbox.
        log.exception("could not acknowledge a committed batch of %d", len(requests))
