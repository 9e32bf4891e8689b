"""Order writes: checkout and the status pipeline.

Checkout policy (documented in monolith/README.md):

* not enough stock for any line: NOTHING is written (no order, no stock move, no payment);
  ``InsufficientStock`` (409);
* payment declined: the order stays, CANCELLED, with its stock released in the same
  transaction and the declined payment recorded; the cart is kept so the customer can
  try another card; ``PaymentDeclined`` (402);
* success: order PAID (authorised then captured), stock taken, cart emptied.

Once the orders service owns orders (``shop.orders.ownership``, step 5) checkout and every
status change raise ``CheckoutMoved`` (423) and write nothing.

The same ``idempotency_key`` replays the first outcome (the same order, or the same
decline) and never charges twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from shop.cart.models import Cart, CartItem
from shop.cart.services import cart_clear
from shop.catalog.models import ProductStatus
from shop.core.clock import legacy_now
from shop.core.errors import (
    CheckoutMoved,
    EmptyCart,
    IdempotencyKeyReused,
    InvalidCard,
    InvalidOrderTransition,
    PaymentDeclined,
    ProductUnavailable,
    ValidationFailed,
)
from shop.inventory import services as inventory
from shop.orders.models import Order, OrderLine, OrderStatus
from shop.orders.ownership import ensure_orders_writable, orders_writes_frozen
from shop.payments import gateway
from shop.payments.models import Payment, PaymentStatus
from shop.payments.services import payment_authorise, payment_cancel, payment_capture


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    line1: str
    city: str
    zip: str
    country: str
    line2: str = ""


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    replayed: bool


DECLINE_MESSAGES = {
    "card_declined": "Your card was declined. Please use another card.",
    "insufficient_funds": "Your card has insufficient funds. Please use another card.",
}


def _validate(
    email: str, address: ShippingAddress, card_number: str, idempotency_key: str | None
) -> str:
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid email address."]
    limits = {"name": 200, "line1": 200, "line2": 200, "city": 100, "zip": 20}
    for field, limit in limits.items():
        value = getattr(address, field)
        if field != "line2" and not value.strip():
            errors[field] = ["This field may not be blank."]
        elif len(value) > limit:
            errors[field] = [f"At most {limit} characters."]
    if len(address.country) != 2 or not address.country.isalpha() or not address.country.isascii():
        errors["country"] = ["Use a two-letter country code, e.g. DE."]
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 64:
        errors["idempotency_key"] = ["Idempotency keys are 1 to 64 characters."]
    try:
        gateway.validate_card_number(card_number)
    except InvalidCard as exc:
        if not errors:
            raise  # only the card is wrong: the specific 'invalid-card' problem
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)
    return email.strip()


def _replay(*, key: str, user: User | AnonymousUser | None, email: str) -> CheckoutResult | None:
    payment = Payment.objects.select_related("order").filter(idempotency_key=key).first()
    if payment is None:
        return None
    order = payment.order
    same_owner = (
        order.user_id == user.pk
        if user is not None and user.is_authenticated
        else order.user_id is None and order.email.lower() == email.lower()
    )
    if not same_owner:
        raise IdempotencyKeyReused("This Idempotency-Key was used for another checkout.")
    if payment.status == PaymentStatus.DECLINED:
        raise PaymentDeclined(
            DECLINE_MESSAGES.get(payment.decline_code, "Your card was declined."),
            reason=payment.decline_code,
            order_id=order.pk,
        )
    return CheckoutResult(order=order, replayed=True)


def checkout(
    *,
    cart: Cart,
    email: str,
    address: ShippingAddress,
    card_number: str,
    user: User | AnonymousUser | None = None,
    idempotency_key: str | None = None,
) -> CheckoutResult:
    """Turn the cart into a paid order in one transaction (see the module docstring)."""
    if orders_writes_frozen():
        raise CheckoutMoved()
    email = _validate(email, address, card_number, idempotency_key)
    key = idempotency_key or uuid.uuid4().hex
    replay = _replay(key=key, user=user, email=email)
    if replay is not None:
        return replay
    try:
        order, payment = _place_order(
            cart=cart, email=email, address=address, card_number=card_number, user=user, key=key
        )
    except IntegrityError:
        # Another request with the same key committed first: answer as it did.
        replay = _replay(key=key, user=user, email=email)
        if replay is None:
            raise
        return replay
    if payment.status == PaymentStatus.DECLINED:
        raise PaymentDeclined(
            DECLINE_MESSAGES.get(payment.decline_code, "Your card was declined."),
            reason=payment.decline_code,
            order_id=order.pk,
        )
    return CheckoutResult(order=order, replayed=False)


@transaction.atomic
def _place_order(
    *,
    cart: Cart,
    email: str,
    address: ShippingAddress,
    card_number: str,
    user: User | AnonymousUser | None,
    key: str,
) -> tuple[Order, Payment]:
    ensure_orders_writable()  # under a share lock: the freeze waits for this checkout
    # Lock the cart's items so a concurrent edit of this cart waits for us.
    items = list(
        CartItem.objects.select_for_update(of=("self",))
        .filter(cart=cart)
        .select_related("product")
        .order_by("product_id")
    )
    if not items:
        raise EmptyCart("Your cart is empty.")
    unavailable = [i.product.sku.strip() for i in items if i.product.st != ProductStatus.ACTIVE]
    if unavailable:
        raise ProductUnavailable(
            f"No longer available: {', '.join(unavailable)}. Remove them from the cart."
        )
    currencies = {i.product.cur.strip().upper() for i in items}
    if len(currencies) > 1:
        raise ValidationFailed("The cart mixes currencies; check out one currency at a time.")
    currency = currencies.pop()
    total = sum((i.product.prc * i.qty for i in items), Decimal("0.00"))
    now = legacy_now()
    order = Order.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        email=email,
        status=OrderStatus.NEW,
        total=total,
        cur=currency,
        ship_name=address.name.strip(),
        ship_line1=address.line1.strip(),
        ship_line2=address.line2.strip(),
        ship_city=address.city.strip(),
        ship_zip=address.zip.strip(),
        ship_country=address.country.strip().upper(),
        created=now,
        updated=now,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=item.product,
            sku=item.product.sku,
            name=item.product.nm,
            unit_price=item.product.prc,
            qty=item.qty,
        )
        for item in items
    )
    # Conditional UPDATEs; InsufficientStock rolls the whole checkout back.
    inventory.stock_reserve_many(
        lines=[(item.product_id, item.qty) for item in items], ref=f"order:{order.pk}"
    )
    payment = payment_authorise(order=order, card_number=card_number, idempotency_key=key)
    if payment.status == PaymentStatus.AUTHORISED:
        order_transition(order=order, to_status=OrderStatus.PAID, actor="checkout")
        cart_clear(cart=cart)
    else:
        order_transition(order=order, to_status=OrderStatus.CANCELLED, actor="payment-declined")
    payment.refresh_from_db()
    return order, payment


@transaction.atomic
def order_transition(*, order: Order, to_status: str, actor: str = "") -> Order:
    """The ONE place an order changes status (new->paid|cancelled, paid->shipped|cancelled,
    shipped->delivered). Raises ``InvalidOrderTransition`` for anything else.

    Entering 'paid' captures the authorised payment; entering 'cancelled' gives the stock
    back and voids or refunds the payment. ``CheckoutMoved`` once the orders service owns
    orders.
    """
    ensure_orders_writable()
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if to_status not in OrderStatus.values:
        raise InvalidOrderTransition(
            f"Unknown order status {to_status!r}.",
            errors={"status": [f"Use one of: {', '.join(OrderStatus.values)}."]},
        )
    if not locked.can_transition_to(to_status):
        allowed = ", ".join(sorted(locked.allowed_next_statuses())) or "none"
        raise InvalidOrderTransition(
            f"Order {locked.pk} cannot go from {locked.status!r} to {to_status!r} "
            f"(allowed: {allowed}).",
            errors={"status": [f"Cannot change from {locked.status} to {to_status}."]},
        )
    if to_status == OrderStatus.PAID:
        for payment in locked.payments.filter(status=PaymentStatus.AUTHORISED):
            payment_capture(payment=payment)
    elif to_status == OrderStatus.CANCELLED:
        inventory.stock_release_many(
            lines=[(line.product_id, line.qty) for line in locked.lines.all()],
            ref=f"order:{locked.pk}",
        )
        for payment in locked.payments.all():
            payment_cancel(payment=payment)
    locked.status = to_status
    locked.updated = legacy_now()
    locked.save(update_fields=["status", "updated"])
    order.status, order.updated = locked.status, locked.updated
    return order


@transaction.atomic
def order_bulk_transition(
    *, order_ids: list[int], to_status: str, actor: str = ""
) -> tuple[int, list[str]]:
    """Admin bulk action: each order through ``order_transition``; returns (done, problems)."""
    done, problems = 0, []
    for order in Order.objects.filter(pk__in=order_ids).order_by("pk"):
        try:
            with transaction.atomic():
                order_transition(order=order, to_status=to_status, actor=actor)
            done += 1
        except InvalidOrderTransition as exc:
            problems.append(exc.detail)
    return done, problems
