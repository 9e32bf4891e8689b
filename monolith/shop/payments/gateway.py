"""A simulated card gateway with deterministic outcomes (no network, no randomness).

* ``settings.PAYMENT_DECLINED_CARD`` (4000 0000 0000 0002): always declined;
* ``4000000000009995``: declined for insufficient funds;
* any other Luhn-valid number of 12 to 19 digits: authorised;
* anything else (not digits, wrong length, Luhn check fails): ``InvalidCard`` (a client error).

Spaces and dashes in the number are ignored. The gateway reference is derived from the
idempotency key, so asking twice with the same key yields the same reference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from shop.core.errors import InvalidCard

INSUFFICIENT_FUNDS_CARD = "4000000000009995"


@dataclass(frozen=True)
class GatewayResult:
    approved: bool
    ref: str
    code: str  # 'approved', 'card_declined', 'insufficient_funds'
    message: str


def normalize_card_number(raw: str) -> str:
    return "".join(ch for ch in str(raw) if ch not in " -")


def luhn_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def validate_card_number(raw: str) -> str:
    """The normalised number, or ``InvalidCard`` with a field error for ``card_number``."""
    number = normalize_card_number(raw)
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        raise InvalidCard(
            "The card number is not valid.",
            errors={"card_number": ["Enter a valid card number."]},
        )
    return number


def _ref(idempotency_key: str) -> str:
    return "SIM-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20].upper()


def authorise(
    *, card_number: str, amount: Decimal, currency: str, idempotency_key: str
) -> GatewayResult:
    number = validate_card_number(card_number)
    ref = _ref(idempotency_key)
    if number == settings.PAYMENT_DECLINED_CARD:
        return GatewayResult(False, ref, "card_declined", "The card was declined.")
    if number == INSUFFICIENT_FUNDS_CARD:
        return GatewayResult(False, ref, "insufficient_funds", "The card has insufficient funds.")
    return GatewayResult(True, ref, "approved", f"Authorised {amount} {currency}.")


def capture(*, ref: str) -> bool:
    return True


def void(*, ref: str) -> bool:
    return True


def refund(*, ref: str) -> bool:
    return True
