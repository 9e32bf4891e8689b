"""The cart as a participant of the orders service's checkout saga (step 5).

After a confirmed order the saga empties the customer's cart (``cart_clear_command``).
The command may arrive more than once; it clears the cart once, records the outcome in
``shop_cart_command`` in the same transaction, and a repeat answers as the first did
without touching the cart again (the customer may have filled it since).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from django.db import IntegrityError, connection, transaction

from shop.cart.models import Cart, CartCommand
from shop.cart.services import cart_clear
from shop.core.errors import Conflict


class CartClearOutcome(StrEnum):
    CLEARED = "cleared"
    NO_CART = "no_cart"


@dataclass(frozen=True)
class CartClearResult:
    command_id: uuid.UUID
    outcome: CartClearOutcome
    replayed: bool


def _replay(command_id: uuid.UUID, cart_id: int) -> CartClearResult | None:
    recorded = CartCommand.objects.filter(command_id=command_id).first()
    if recorded is None:
        return None
    if recorded.cart_id != cart_id:
        raise Conflict(f"Command {command_id} cleared cart {recorded.cart_id}, not {cart_id}.")
    return CartClearResult(command_id, CartClearOutcome(recorded.outcome), replayed=True)


def cart_clear_command(*, command_id: uuid.UUID, cart_id: int) -> CartClearResult:
    try:
        return _clear(command_id=command_id, cart_id=cart_id)
    except IntegrityError:
        replay = _replay(command_id, cart_id)  # a copy committed first: answer as it did
        if replay is None:
            raise
        return replay


@transaction.atomic
def _clear(*, command_id: uuid.UUID, cart_id: int) -> CartClearResult:
    with connection.cursor() as cur:  # two copies of one command: one clears, one replays
        cur.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"shop_cart_command:{command_id}"],
        )
    replay = _replay(command_id, cart_id)
    if replay is not None:
        return replay
    cart = Cart.objects.select_for_update().filter(pk=cart_id).first()
    if cart is None:
        outcome = CartClearOutcome.NO_CART
    else:
        cart_clear(cart=cart)
        outcome = CartClearOutcome.CLEARED
    CartCommand.objects.create(command_id=command_id, cart_id=cart_id, outcome=outcome)
    return CartClearResult(command_id, outcome, replayed=False)
