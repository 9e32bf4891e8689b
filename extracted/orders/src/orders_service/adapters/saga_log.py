"""The saga log: ``sagas`` (one row per checkout) and ``saga_steps`` (every command sent
and every outcome), on a connection whose transaction the caller owns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, text

RUNNING, COMPENSATING = "running", "compensating"
COMPLETED, REJECTED, COMPENSATED = "completed", "rejected", "compensated"
ACTIVE_STATES = (RUNNING, COMPENSATING)
TERMINAL_STATES = (COMPLETED, REJECTED, COMPENSATED)


@dataclass(frozen=True, slots=True)
class SagaRow:
    saga_id: uuid.UUID
    order_id: int
    state: str
    step: str
    idempotency_key: str
    owner: str
    cart_id: int | None
    card_token: uuid.UUID
    lease_until: datetime
    lease_holder: str | None
    deadline: datetime
    attempts: int
    last_error: str | None
    cancel_reason: str | None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True, slots=True)
class StepRecord:
    step: str
    command_id: uuid.UUID
    status: str
    response: dict[str, Any] | None


_COLUMNS = ("saga_id, order_id, state, step, idempotency_key, owner, cart_id, card_token, "
            "lease_until, lease_holder, deadline, attempts, last_error, cancel_reason")  # fmt: skip


def _row(r: Any) -> SagaRow:
    return SagaRow(**{k: getattr(r, k) for k in SagaRow.__slots__})


class SagaLog:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def create(self, *, saga_id: uuid.UUID, order_id: int, idempotency_key: str, owner: str,
               cart_id: int | None, card_token: uuid.UUID, lease_holder: str, lease: float,
               deadline: float) -> None:  # fmt: skip
        self.connection.execute(
            text("INSERT INTO sagas (saga_id, order_id, state, step, idempotency_key, owner,"
                 " cart_id, card_token, lease_until, lease_holder, deadline) VALUES (:saga_id,"
                 " :order_id, 'running', 'reserve', :key, :owner, :cart_id, :token,"
                 " now() + make_interval(secs => :lease), :holder,"
                 " now() + make_interval(secs => :deadline))"),
            {"saga_id": saga_id, "order_id": order_id, "key": idempotency_key, "owner": owner,
             "cart_id": cart_id, "token": card_token, "lease": lease, "holder": lease_holder,
             "deadline": deadline},
        )  # fmt: skip

    def get(self, saga_id: uuid.UUID) -> SagaRow | None:
        r = self.connection.execute(
            text(f"SELECT {_COLUMNS} FROM sagas WHERE saga_id = :id"),  # noqa: S608
            {"id": saga_id},
        ).one_or_none()
        return None if r is None else _row(r)

    def by_key(self, idempotency_key: str) -> list[SagaRow]:
        rows = self.connection.execute(
            text(f"SELECT {_COLUMNS} FROM sagas WHERE idempotency_key = :key ORDER BY created"),  # noqa: S608
            {"key": idempotency_key},
        )
        return [_row(r) for r in rows]

    def claim_expired(self, holder: str, lease: float) -> SagaRow | None:
        """Take one unfinished saga whose lease expired (a crashed driver's), or None.

        ``SKIP LOCKED`` and the re-checked lease make two claimers never get the same saga.
        """
        r = self.connection.execute(
            text("UPDATE sagas SET lease_holder = :holder, attempts = attempts + 1,"  # noqa: S608
                 " lease_until = now() + make_interval(secs => :lease), updated = now()"
                 " WHERE saga_id = (SELECT saga_id FROM sagas"
                 "   WHERE state IN ('running', 'compensating') AND lease_until < now()"
                 "   ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED)"
                 f" RETURNING {_COLUMNS}"),
            {"holder": holder, "lease": lease},
        ).one_or_none()  # fmt: skip
        return None if r is None else _row(r)

    def renew(self, saga_id: uuid.UUID, holder: str, lease: float) -> bool:
        """Extend the lease if ``holder`` still holds it; False: another driver took over."""
        r = self.connection.execute(
            text("UPDATE sagas SET lease_until = now() + make_interval(secs => :lease)"
                 " WHERE saga_id = :id AND lease_holder = :holder"
                 " AND state IN ('running', 'compensating') RETURNING 1"),
            {"id": saga_id, "holder": holder, "lease": lease},
        ).one_or_none()  # fmt: skip
        return r is not None

    def lock(self, saga_id: uuid.UUID, holder: str) -> SagaRow | None:
        """The saga row, locked for this transaction, if ``holder`` still holds it."""
        r = self.connection.execute(
            text(f"SELECT {_COLUMNS} FROM sagas WHERE saga_id = :id AND lease_holder = :holder"  # noqa: S608
                 " FOR UPDATE"), {"id": saga_id, "holder": holder},
        ).one_or_none()  # fmt: skip
        return None if r is None else _row(r)

    def update(self, saga_id: uuid.UUID, **values: Any) -> None:
        allowed = {"state", "step", "last_error", "cancel_reason", "lease_holder", "attempts"}
        assert set(values) <= allowed, values
        sets = ", ".join(f"{k} = :{k}" for k in values)
        self.connection.execute(
            text(f"UPDATE sagas SET {sets}, updated = now() WHERE saga_id = :saga_id"),  # noqa: S608
            {"saga_id": saga_id, **values},
        )

    def release_lease(self, saga_id: uuid.UUID, holder: str, *, delay: float = 0.0) -> None:
        """Give the saga up (a worker may take it after ``delay`` seconds)."""
        self.connection.execute(
            text("UPDATE sagas SET lease_holder = NULL,"
                 " lease_until = now() + make_interval(secs => :delay)"
                 " WHERE saga_id = :id AND lease_holder = :holder"),
            {"id": saga_id, "holder": holder, "delay": delay},
        )  # fmt: skip

    def log_step(self, saga_id: uuid.UUID, step: str, command_id: uuid.UUID, status: str,
                 response: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.connection.execute(
            text("INSERT INTO saga_steps (saga_id, step, command_id, status, response)"
                 " VALUES (:saga_id, :step, :command_id, :status, CAST(:response AS jsonb))"),
            {"saga_id": saga_id, "step": step, "command_id": command_id, "status": status,
             "response": None if response is None else orjson.dumps(response).decode()},
        )  # fmt: skip

    def steps(self, saga_id: uuid.UUID) -> list[StepRecord]:
        rows = self.connection.execute(
            text("SELECT step, command_id, status, response FROM saga_steps"
                 " WHERE saga_id = :id ORDER BY id"), {"id": saga_id},
        )  # fmt: skip
        return [StepRecord(r.step, r.command_id, r.status, r.response) for r in rows]

    def in_flight(self) -> int:
        return int(self.connection.execute(
            text("SELECT count(*) FROM sagas WHERE state IN ('running', 'compensating')")
        ).scalar_one())  # fmt: skip


def sent_command(steps: list[StepRecord], step: str) -> uuid.UUID | None:
    """The command id logged as sent for ``step`` (the one to re-send after a crash)."""
    return next((s.command_id for s in steps if s.step == step and s.status == "sent"), None)


def outcome_of(steps: list[StepRecord], step: str) -> StepRecord | None:
    return next((s for s in reversed(steps) if s.step == step and s.status != "sent"), None)
