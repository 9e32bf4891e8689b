"""Guests have no account: the orders they placed are remembered in their session."""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase

SESSION_GUEST_ORDERS = "guest_order_ids"
# Orders this session placed through the orders service (step 5): until the reverse sync
# has brought one here, its page says it is being confirmed instead of "not found".
SESSION_PLACED_ORDERS = "placed_order_ids"
MAX_REMEMBERED = 20


def remember_guest_order(session: SessionBase, order_id: int) -> None:
    ids = [i for i in session.get(SESSION_GUEST_ORDERS, []) if i != order_id]
    session[SESSION_GUEST_ORDERS] = [*ids, order_id][-MAX_REMEMBERED:]


def guest_order_ids(session: SessionBase) -> list[int]:
    return list(session.get(SESSION_GUEST_ORDERS, []))


def remember_placed_order(session: SessionBase, order_id: int) -> None:
    ids = [i for i in session.get(SESSION_PLACED_ORDERS, []) if i != order_id]
    session[SESSION_PLACED_ORDERS] = [*ids, order_id][-MAX_REMEMBERED:]


def placed_order_ids(session: SessionBase) -> list[int]:
    return list(session.get(SESSION_PLACED_ORDERS, []))
