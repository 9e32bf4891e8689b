"""Stock as a participant of the orders service's checkout saga (step 5).

The saga sends commands, each with its own id, and may send the same command again after a
crash or a timeout. Each command is applied once: its outcome is recorded in
``shop_inventory_command`` in the same transaction as the stock moves it made, and a
repeat answers with that recorded outcome (``replayed``) and changes nothing.

* **reserve** (``stock_reservation_command``): all lines or none, through
  ``stock_reserve_many`` (products updated in id order, one ``sale`` stock move per product
  with ``ref = order:<id>``, the catalog's stock events in the outbox). Outcomes:
  ``reserved``, ``insufficient_stock`` (with the SKU and what is on hand),
  ``unknown_product``, or ``cancelled`` when a release of this reservation was recorded
  first. A reservation's id is its command id.
* **release** (``stock_release_command``): gives back exactly what the reservation took
  (``cancel`` moves, same ref), once: ``released``; or ``nothing_reserved`` when the
  reservation took nothing, was released already, or is not known here. An unknown
  reservation is recorded as a tombstone, so when the reservation arrives late (it timed
  out on the saga's side and was compensated) it takes nothing.

Concurrency: a transaction-scoped advisory lock per reservation id serialises the commands
of one reservation (two copies of one command, a release racing its reservation); the
unique ``command_id`` is the last line of defence, and a copy that loses on it replays.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, connection, transaction

from shop.catalog.models import Product
from shop.core.errors import Conflict, InsufficientStock, NotFound, ValidationFailed
from shop.inventory import services as inventory
from shop.inventory.models import InventoryCommand, InventoryCommandKind

MAX_QUANTITY = 2_147_483_647  # shop_product.qty is an integer column


class ReservationOutcome(StrEnum):
    RESERVED = "reserved"
    INSUFFICIENT_STOCK = "insufficient_stock"
    UNKNOWN_PRODUCT = "unknown_product"
    CANCELLED = "cancelled"


class ReleaseOutcome(StrEnum):
    RELEASED = "released"
    NOTHING_RESERVED = "nothing_reserved"


@dataclass(frozen=True)
class ReservationResult:
    command_id: uuid.UUID
    outcome: ReservationOutcome
    replayed: bool
    detail: str
    sku: str | None = None
    available: int | None = None


@dataclass(frozen=True)
class ReleaseResult:
    command_id: uuid.UUID
    outcome: ReleaseOutcome
    replayed: bool
    detail: str


class CommandIdReused(Conflict):
    slug = "command-id-reused"
    title = "Command id already used for another command"


def _lock_reservation(reservation_id: uuid.UUID) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"shop_inventory_command:{reservation_id}"],
        )


def _ref(order_id: int) -> str:
    return f"order:{order_id}"


def _merged(lines: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """One line per product (quantities added up), in product id order."""
    totals: Counter[int] = Counter()
    for product_id, quantity in lines:
        totals[product_id] += quantity
    merged = sorted(totals.items())
    if not merged:
        raise ValidationFailed("Give at least one line.", errors={"lines": ["Must not be empty."]})
    too_big = [str(pid) for pid, qty in merged if qty > MAX_QUANTITY]
    if too_big:
        raise ValidationFailed(
            "A quantity is too large.",
            errors={
                "lines": [f"At most {MAX_QUANTITY} per product (product {', '.join(too_big)})."]
            },
        )
    return merged


def _recorded(command_id: uuid.UUID, kind: str) -> InventoryCommand | None:
    recorded = InventoryCommand.objects.filter(command_id=command_id).first()
    if recorded is not None and recorded.kind != kind:
        raise CommandIdReused(
            f"Command {command_id} was recorded as a {recorded.kind}, not a {kind}."
        )
    return recorded


def _reservation_result(recorded: InventoryCommand, *, replayed: bool) -> ReservationResult:
    detail: dict[str, Any] = recorded.detail or {}
    return ReservationResult(
        command_id=recorded.command_id,
        outcome=ReservationOutcome(recorded.outcome),
        replayed=replayed,
        detail=str(detail.get("detail", "")),
        sku=detail.get("sku"),
        available=detail.get("available"),
    )


def _release_result(recorded: InventoryCommand, *, replayed: bool) -> ReleaseResult:
    detail: dict[str, Any] = recorded.detail or {}
    return ReleaseResult(
        command_id=recorded.command_id,
        outcome=ReleaseOutcome(recorded.outcome),
        replayed=replayed,
        detail=str(detail.get("detail", "")),
    )


def stock_reservation_command(
    *, command_id: uuid.UUID, order_id: int, lines: Iterable[tuple[int, int]]
) -> ReservationResult:
    """Reserve stock for an order, all lines or none, once per ``command_id``."""
    merged = _merged(lines)
    try:
        return _reserve(command_id=command_id, order_id=order_id, lines=merged)
    except IntegrityError:
        # A copy of this command committed first (under another lock): answer as it did.
        recorded = _recorded(command_id, InventoryCommandKind.RESERVE)
        if recorded is None:
            raise
        return _reservation_result(recorded, replayed=True)


@transaction.atomic
def _reserve(
    *, command_id: uuid.UUID, order_id: int, lines: list[tuple[int, int]]
) -> ReservationResult:
    _lock_reservation(command_id)
    recorded = _recorded(command_id, InventoryCommandKind.RESERVE)
    if recorded is not None:
        if recorded.order_id != order_id:
            raise CommandIdReused(
                f"Command {command_id} reserved stock for order {recorded.order_id}, "
                f"not {order_id}."
            )
        return _reservation_result(recorded, replayed=True)

    detail: dict[str, Any]
    tombstone = InventoryCommand.objects.filter(
        kind=InventoryCommandKind.RELEASE, reservation_id=command_id
    ).exists()
    product_ids = [product_id for product_id, _ in lines]
    known = set(Product.objects.filter(pk__in=product_ids).values_list("pk", flat=True))
    unknown = [pid for pid in product_ids if pid not in known]
    if tombstone:
        outcome = ReservationOutcome.CANCELLED
        detail = {"detail": f"Reservation {command_id} was released before it arrived."}
    elif unknown:
        outcome = ReservationOutcome.UNKNOWN_PRODUCT
        detail = {"detail": f"Unknown product(s): {', '.join(map(str, unknown))}."}
    else:
        try:
            with transaction.atomic():  # a savepoint: a failed line undoes the ones before
                inventory.stock_reserve_many(lines=lines, ref=_ref(order_id))
        except InsufficientStock as exc:
            outcome = ReservationOutcome.INSUFFICIENT_STOCK
            detail = {"detail": exc.detail, "sku": exc.sku.strip(), "available": exc.available}
        except NotFound as exc:
            outcome = ReservationOutcome.UNKNOWN_PRODUCT
            detail = {"detail": exc.detail}
        else:
            outcome = ReservationOutcome.RESERVED
            detail = {"detail": f"Reserved {len(lines)} product(s) for order {order_id}."}
    recorded = InventoryCommand.objects.create(
        command_id=command_id,
        kind=InventoryCommandKind.RESERVE,
        order_id=order_id,
        reservation_id=command_id,
        lines=[{"product_id": pid, "quantity": qty} for pid, qty in lines],
        outcome=outcome,
        detail=detail,
    )
    return _reservation_result(recorded, replayed=False)


def stock_release_command(
    *, command_id: uuid.UUID, reservation_id: uuid.UUID, order_id: int
) -> ReleaseResult:
    """Give back what reservation ``reservation_id`` took, once per reservation."""
    try:
        return _release(command_id=command_id, reservation_id=reservation_id, order_id=order_id)
    except IntegrityError:
        recorded = _recorded(command_id, InventoryCommandKind.RELEASE)
        if recorded is None:
            raise
        return _release_result(recorded, replayed=True)


@transaction.atomic
def _release(*, command_id: uuid.UUID, reservation_id: uuid.UUID, order_id: int) -> ReleaseResult:
    _lock_reservation(reservation_id)
    recorded = _recorded(command_id, InventoryCommandKind.RELEASE)
    if recorded is not None:
        return _release_result(recorded, replayed=True)

    reservation = InventoryCommand.objects.filter(
        command_id=reservation_id, kind=InventoryCommandKind.RESERVE
    ).first()
    released_before = InventoryCommand.objects.filter(
        kind=InventoryCommandKind.RELEASE,
        reservation_id=reservation_id,
        outcome=ReleaseOutcome.RELEASED,
    ).exists()
    lines: list[dict[str, int]] = []
    if reservation is None:
        outcome = ReleaseOutcome.NOTHING_RESERVED
        detail = f"No reservation {reservation_id}; a late one will take nothing."
    elif reservation.order_id != order_id:
        raise Conflict(
            f"Reservation {reservation_id} belongs to order {reservation.order_id}, not {order_id}."
        )
    elif reservation.outcome != ReservationOutcome.RESERVED:
        outcome = ReleaseOutcome.NOTHING_RESERVED
        detail = f"Reservation {reservation_id} took nothing ({reservation.outcome})."
    elif released_before:
        outcome = ReleaseOutcome.NOTHING_RESERVED
        detail = f"Reservation {reservation_id} was released already."
    else:
        lines = list(reservation.lines)
        inventory.stock_release_many(
            lines=[(line["product_id"], line["quantity"]) for line in lines],
            ref=_ref(reservation.order_id),
        )
        outcome = ReleaseOutcome.RELEASED
        detail = f"Released reservation {reservation_id} of order {order_id}."
    recorded = InventoryCommand.objects.create(
        command_id=command_id,
        kind=InventoryCommandKind.RELEASE,
        order_id=order_id,
        reservation_id=reservation_id,
        lines=lines,
        outcome=outcome,
        detail={"detail": detail},
    )
    return _release_result(recorded, replayed=False)
