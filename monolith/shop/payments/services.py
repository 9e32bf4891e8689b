from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from shop.core.clock import legacy_now
from shop.payments import gateway
from shop.payments.models import Payment, PaymentStatus

if TYPE_CHECKING:
    from shop.orders.models import Order


@transaction.atomic
def payment_authorise(*, order: Order, card_number: str, idempotency_key: str) -> Payment:
    """Ask the gateway and record the answer (authorised or declined) as one payment row.

    The ``idempotency_key`` column is unique: a second payment with the same key cannot be
    written, so a replayed request can never charge twice.
    """
    result = gateway.authorise(
        card_number=card_number,
        amount=order.total,
        currency=order.cur,
        idempotency_key=idempotency_key,
    )
    number = gateway.normalize_card_number(card_number)
    return Payment.objects.create(
        order=order,
        amount=order.total,
        cur=order.cur,
        status=PaymentStatus.AUTHORISED if result.approved else PaymentStatus.DECLINED,
        gateway_ref=result.ref,
        decline_code="" if result.approved else result.code,
        card_last4=number[-4:],
        idempotency_key=idempotency_key,
        created=legacy_now(),
    )


@transaction.atomic
def payment_capture(*, payment: Payment) -> Payment:
    if payment.status == PaymentStatus.AUTHORISED:
        gateway.capture(ref=payment.gateway_ref)
        payment.status = PaymentStatus.CAPTURED
        payment.save(update_fields=["status"])
    return payment


@transaction.atomic
def payment_cancel(*, payment: Payment) -> Payment:
    """Void an authorisation or refund a capture; other states stay as they are."""
    if payment.status == PaymentStatus.AUTHORISED:
        gateway.void(ref=payment.gateway_ref)
        payment.status = PaymentStatus.VOIDED
        payment.save(update_fields=["status"])
    elif payment.status == PaymentStatus.CAPTURED:
        gateway.refund(ref=payment.gateway_ref)
        payment.status = PaymentStatus.REFUNDED
        payment.save(update_fields=["status"])
    return payment
