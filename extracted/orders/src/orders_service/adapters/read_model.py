"""Reads from the ``order_summaries`` read model (the inline projection)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from orders_service.domain import OrderSnapshot
from orders_service.domain.events import snapshot_from_data

_COLUMNS = ("order_id, user_id, email, status, currency, total_minor, shipping, lines, "
            "payments, created_at, updated_at")  # fmt: skip


def _snapshot(row: Any) -> OrderSnapshot:
    return snapshot_from_data({
        "order_id": row.order_id, "user_id": row.user_id, "email": row.email,
        "status": row.status, "currency": row.currency, "total_minor": row.total_minor,
        "shipping": row.shipping, "lines": row.lines, "payments": row.payments,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    })  # fmt: skip


class OrderReads:
    """Visible orders only (the read model never holds pending or rejected ones)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ping(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def count(self, *, user_id: int | None) -> int:
        """Orders of ``user_id`` (None: every order)."""
        where = "" if user_id is None else " WHERE user_id = :user_id"
        with self._engine.connect() as conn:
            sql = "SELECT count(*) FROM order_summaries" + where  # noqa: S608
            return int(conn.execute(text(sql), {"user_id": user_id}).scalar_one())

    def page(self, *, user_id: int | None, limit: int, offset: int) -> list[OrderSnapshot]:
        """Newest first (by id, like the monolith's ``ordering = ("-id",)``)."""
        where = "" if user_id is None else " WHERE user_id = :user_id"
        sql = (f"SELECT {_COLUMNS} FROM order_summaries{where}"  # noqa: S608
               " ORDER BY order_id DESC LIMIT :limit OFFSET :offset")  # fmt: skip
        with self._engine.connect() as conn:
            rows = conn.execute(text(sql), {"user_id": user_id, "limit": limit, "offset": offset})
            return [_snapshot(r) for r in rows]

    def get(self, order_id: int) -> OrderSnapshot | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {_COLUMNS} FROM order_summaries WHERE order_id = :id"),  # noqa: S608
                {"id": order_id},
            ).one_or_none()
        return None if row is None else _snapshot(row)
