"""The only code that changes ``shop_product.qty``.

Every change is ONE conditional UPDATE on the product row (``qty = qty +/- n`` through F()
expressions, guarded by ``qty >= n`` when taking stock), so concurrent checkouts never
oversell and never lose an update, plus one ``shop_stockmove`` row per product and one
``catalog.product.stock_changed.v1`` outbox event per product in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.db.models import F

from shop.catalog.models import Product
from shop.core.clock import legacy_now
from shop.core.errors import InsufficientStock, NotFound, ValidationFailed
from shop.inventory.models import StockMove, StockMoveReason
from shop.outbox import events

REF_MAX = 64


def _ref(ref: str) -> str:
    return str(ref)[:REF_MAX]


def _positive(quantity: int, field: str = "quantity") -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValidationFailed(
            f"{field} must be a positive integer", errors={field: ["Must be a positive integer."]}
        )


@transaction.atomic
def stock_adjust(
    *, product_id: int, delta: int, reason: str = StockMoveReason.ADJUST, ref: str = ""
) -> int:
    """Add (or, with a negative delta, take) stock. Returns the new quantity.

    Taking more than is on hand raises ``InsufficientStock``; nothing changes then.
    """
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise ValidationFailed(
            "delta must be an integer", errors={"delta": ["Must be an integer."]}
        )
    if delta == 0:
        return _current_qty(product_id)
    rows = Product.objects.filter(pk=product_id)
    if delta < 0:
        rows = rows.filter(qty__gte=-delta)
    updated = rows.update(qty=F("qty") + delta, updated=legacy_now())
    if updated == 0:
        available = _current_qty(product_id)  # raises NotFound for an unknown product
        sku = Product.objects.filter(pk=product_id).values_list("sku", flat=True).first() or ""
        raise InsufficientStock(
            f"Only {available} of {sku.strip()} in stock, {-delta} requested.",
            sku=sku,
            available=available,
        )
    StockMove.objects.create(product_id=product_id, delta=delta, reason=reason, ref=_ref(ref))
    events.products_changed([product_id], stock=True)
    return _current_qty(product_id)


def _current_qty(product_id: int) -> int:
    qty = Product.objects.filter(pk=product_id).values_list("qty", flat=True).first()
    if qty is None:
        raise NotFound(f"Product {product_id} does not exist.")
    return qty


@transaction.atomic
def stock_reserve(*, product_id: int, quantity: int, ref: str) -> int:
    """Take ``quantity`` units for a sale (conditional UPDATE ... WHERE qty >= quantity)."""
    _positive(quantity)
    return stock_adjust(
        product_id=product_id, delta=-quantity, reason=StockMoveReason.SALE, ref=ref
    )


@transaction.atomic
def stock_release(*, product_id: int, quantity: int, ref: str) -> int:
    """Give back units taken by ``stock_reserve`` (order cancelled or payment declined)."""
    _positive(quantity)
    return stock_adjust(
        product_id=product_id, delta=quantity, reason=StockMoveReason.CANCEL, ref=ref
    )


@transaction.atomic
def stock_set(*, product_id: int, quantity: int, ref: str) -> int:
    """Set the stock to an absolute count (a stock-take), recorded as an 'adjust' move."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise ValidationFailed(errors={"stock": ["Must be a non-negative integer."]})
    # Lock the row so the delta we compute is the delta we apply.
    current = (
        Product.objects.select_for_update()
        .filter(pk=product_id)
        .values_list("qty", flat=True)
        .first()
    )
    if current is None:
        raise NotFound(f"Product {product_id} does not exist.")
    return stock_adjust(
        product_id=product_id, delta=quantity - current, reason=StockMoveReason.ADJUST, ref=ref
    )


@transaction.atomic
def stock_reserve_many(*, lines: Iterable[tuple[int, int]], ref: str) -> None:
    """Reserve several products for one order; all or nothing.

    Rows are taken in product-id order so two checkouts never deadlock on each other.
    """
    for product_id, quantity in sorted(lines):
        stock_reserve(product_id=product_id, quantity=quantity, ref=ref)


@transaction.atomic
def stock_release_many(*, lines: Iterable[tuple[int, int]], ref: str) -> None:
    for product_id, quantity in sorted(lines):
        stock_release(product_id=product_id, quantity=quantity, ref=ref)


@transaction.atomic
def stock_bulk_restock(*, product_ids: Sequence[int], quantity: int, ref: str) -> int:
    """Add ``quantity`` to each product in ONE UPDATE (admin bulk action). Returns rows changed."""
    _positive(quantity)
    ids = sorted(set(product_ids))
    if not ids:
        return 0
    now = legacy_now()
    # qty = qty + n in ONE UPDATE; RETURNING reads the rows back for the outbox events.
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE shop_product SET qty = qty + %s, updated = %s"  # noqa: S608 (constant SQL)
            f" WHERE id = ANY(%s) {events.RETURNING_PRODUCT}",
            [quantity, now, ids],
        )
        rows = events.as_product_rows(cur.fetchall())
    changed = sorted(row["id"] for row in rows)
    StockMove.objects.bulk_create(
        StockMove(
            product_id=pk,
            delta=quantity,
            reason=StockMoveReason.RESTOCK,
            ref=_ref(ref),
            created=now,
        )
        for pk in changed
    )
    events.products_changed(rows=rows, stock=True)  # one statement for all
    return len(changed)
