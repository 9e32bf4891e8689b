"""A simulated payment service provider with the monolith's deterministic rules, and its
own tables (``gateway_cards``, ``gateway_authorisations``).

* ``4000000000000002`` (the monolith's ``PAYMENT_DECLINED_CARD``): always declined;
* ``4000000000009995``: declined for insufficient funds;
* any other Luhn-valid number of 12 to 19 digits: authorised;
* anything else: :class:`InvalidCard` (a client error).

Cards are tokenized first, so the saga log holds a token, never a number. Authorise,
capture, void and refund are idempotent: the same idempotency key (for authorise) or
reference yields the same answer, and the reference is derived from the key exactly as
the monolith derives it (``"SIM-" + sha256(key)[:20]``, upper case).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, text

DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"


class InvalidCard(ValueError):
    def __init__(self) -> None:
        self.errors = {"card_number": ["Enter a valid card number."]}
        super().__init__("The card number is not valid.")


class UnknownCardToken(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class GatewayResult:
    approved: bool
    ref: str
    code: str  # 'approved', 'card_declined', 'insufficient_funds'
    card_last4: str


@dataclass(frozen=True, slots=True)
class CardToken:
    token: uuid.UUID
    last4: str


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
    """The normalised number, or :class:`InvalidCard`."""
    number = normalize_card_number(raw)
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        raise InvalidCard
    return number


def gateway_ref(idempotency_key: str) -> str:
    return "SIM-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20].upper()


def decide(number: str, declined_card: str = DECLINED_CARD) -> str:
    if number == declined_card:
        return "card_declined"
    if number == INSUFFICIENT_FUNDS_CARD:
        return "insufficient_funds"
    return "approved"


class PaymentGateway(Protocol):
    def tokenize(self, card_number: str) -> CardToken: ...
    def authorise(self, token: uuid.UUID, amount_minor: int, currency: str,
                  idempotency_key: str) -> GatewayResult: ...  # fmt: skip
    def capture(self, ref: str) -> bool: ...
    def void(self, ref: str) -> bool: ...
    def refund(self, ref: str) -> bool: ...


class SimulatedGateway:
    """The PSP; every call is its own transaction (it is a remote party to the saga)."""

    def __init__(self, engine: Engine, *, declined_card: str = DECLINED_CARD) -> None:
        self._engine = engine
        self._declined_card = declined_card

    def tokenize(self, card_number: str) -> CardToken:
        number = validate_card_number(card_number)
        token = uuid.uuid4()
        with self._engine.begin() as conn:
            conn.execute(text("INSERT INTO gateway_cards (token, number) VALUES (:t, :n)"),
                         {"t": token, "n": number})  # fmt: skip
        return CardToken(token, number[-4:])

    def authorise(
        self, token: uuid.UUID, amount_minor: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        with self._engine.begin() as conn:
            number = conn.execute(text("SELECT number FROM gateway_cards WHERE token = :t"),
                                  {"t": token}).scalar()  # fmt: skip
            if number is None:
                raise UnknownCardToken(str(token))
            code = decide(number, self._declined_card)
            conn.execute(
                text("INSERT INTO gateway_authorisations (idempotency_key, token, amount_minor,"
                     " currency, approved, code, ref, status) VALUES (:key, :token, :amount,"
                     " :currency, :approved, :code, :ref, :status)"
                     " ON CONFLICT (idempotency_key) DO NOTHING"),
                {"key": idempotency_key, "token": token, "amount": amount_minor,
                 "currency": currency, "approved": code == "approved", "code": code,
                 "ref": gateway_ref(idempotency_key),
                 "status": "authorised" if code == "approved" else "declined"},
            )  # fmt: skip
            row = conn.execute(
                text("SELECT a.approved, a.ref, a.code, c.number FROM gateway_authorisations a"
                     " JOIN gateway_cards c ON c.token = a.token WHERE a.idempotency_key = :key"),
                {"key": idempotency_key},
            ).one()  # fmt: skip
        return GatewayResult(row.approved, row.ref, row.code, row.number[-4:])

    def _move(self, ref: str, old: tuple[str, ...], new: str) -> bool:
        with self._engine.begin() as conn:
            status = conn.execute(
                text("SELECT status FROM gateway_authorisations WHERE ref = :ref FOR UPDATE"),
                {"ref": ref},
            ).scalar()
            if status is None:
                return False
            if status == new:
                return True  # asked before: the same answer
            if status not in old:
                return False
            conn.execute(
                text("UPDATE gateway_authorisations SET status = :new, updated_at = now()"
                     " WHERE ref = :ref"), {"new": new, "ref": ref},
            )  # fmt: skip
        return True

    def capture(self, ref: str) -> bool:
        return self._move(ref, ("authorised",), "captured")

    def void(self, ref: str) -> bool:
        return self._move(ref, ("authorised",), "voided")

    def refund(self, ref: str) -> bool:
        return self._move(ref, ("captured",), "refunded")
