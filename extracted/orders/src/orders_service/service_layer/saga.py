"""The checkout saga: an orchestrator that turns the monolith's cart into a paid order.

Steps (each a local transaction, each with a compensation)::

    0. read the cart (monolith), tokenize the card; ONE transaction: saga row + OrderPlaced
    1. reserve stock     monolith  reserved -> StockReserved | refused -> StockRejected (409)
    2. authorise         gateway   approved -> PaymentAuthorised | declined -> PaymentDeclined
    3. confirm           gateway capture -> OrderConfirmed; then the monolith clears the cart
    compensation (reverse order): void the authorisation, release the stock, OrderCancelled

A step's command id is logged as ``sent`` in its own transaction BEFORE the command goes
out; the outcome is recorded with the domain event (and its outbox event) in one
transaction. After a crash, whoever drives the saga next re-sends the logged command id and
the participant answers with the outcome it recorded the first time.

A driver holds the saga's lease (``lease_holder``, ``lease_until``) and renews it before
every step; the request drives its saga inline, ``SagaWorker`` takes over sagas whose lease
expired (a crashed process). Participant calls that fail or time out are retried with
backoff until the saga's deadline; past it, a saga that has not authorised the payment
compensates (reason ``timeout``).

Crash drills: with ``ORDERS_FAULT_CRASH_AFTER=<event>`` the process exits with status 70
right after the transaction that records that event commits.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Event as StopFlag
from typing import Any, TypeVar

from acl.errors import UntranslatableRecord
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from orders_service.adapters.event_store import ConcurrencyConflict, OrderRepository
from orders_service.adapters.gateway import (
    InvalidCard as GatewayInvalidCard,
)
from orders_service.adapters.gateway import (
    PaymentGateway,
    validate_card_number,
)
from orders_service.adapters.monolith import (
    MonolithParticipant,
    ParticipantRefused,
    ParticipantUnavailable,
)
from orders_service.adapters.saga_log import (
    COMPENSATED,
    COMPENSATING,
    COMPLETED,
    REJECTED,
    RUNNING,
    SagaLog,
    SagaRow,
    StepRecord,
    sent_command,
)
from orders_service.domain import OrderLine, OrderSnapshot, OrderStatus, PaymentStatus
from orders_service.domain import ShippingAddress as Address
from orders_service.domain.events import (
    Event,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    PaymentAuthorised,
    PaymentDeclined,
    PaymentVoided,
    StockRejected,
    StockReleased,
    StockReserved,
)
from orders_service.domain.order import Order
from orders_service.service_layer.errors import (
    CheckoutInProgress,
    CheckoutUnavailable,
    EmptyCart,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidCard,
    ProductUnavailable,
    ValidationFailed,
)
from orders_service.service_layer.errors import (
    PaymentDeclined as PaymentDeclinedError,
)
from orders_service.service_layer.metrics import SagaMetrics
from orders_service.settings import Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

DECLINE_MESSAGES = {
    "card_declined": "Your card was declined. Please use another card.",
    "insufficient_funds": "Your card has insufficient funds. Please use another card.",
}
CRASH_EXIT_CODE = 70
# A paid order's cart is cleared on a best-effort basis for this long after the deadline.
CART_CLEAR_GRACE = 3600.0
_EMAIL = re.compile(
    r"^[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*"
    r"@((?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+[A-Z0-9-]{2,63}(?<!-)|\[[0-9a-f:.]+\])$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class CheckoutInput:
    email: str
    name: str
    line1: str
    city: str
    zip: str
    country: str
    card_number: str
    line2: str = ""


@dataclass(frozen=True, slots=True)
class Customer:
    user_id: int | None  # None: a guest

    def owner(self, email: str) -> str:
        return f"user:{self.user_id}" if self.user_id is not None else f"guest:{email.lower()}"


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    order: OrderSnapshot
    replayed: bool


class LeaseLost(Exception):
    """Another driver holds the saga now (this one was too slow or presumed dead)."""


def valid_email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL.match(value) is not None


def validate(data: CheckoutInput, idempotency_key: str | None) -> str:
    """The monolith's checkout rules beyond the input shape; returns the clean email."""
    errors: dict[str, list[str]] = {}
    if not valid_email(data.email.strip()):
        errors["email"] = ["Enter a valid email address."]
    limits = {"name": 200, "line1": 200, "line2": 200, "city": 100, "zip": 20}
    for field, limit in limits.items():
        value = getattr(data, field)
        if field != "line2" and not value.strip():
            errors[field] = ["This field may not be blank."]
        elif len(value) > limit:
            errors[field] = [f"At most {limit} characters."]
    country = data.country
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        errors["country"] = ["Use a two-letter country code, e.g. DE."]
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 64:
        errors["idempotency_key"] = ["Idempotency keys are 1 to 64 characters."]
    try:
        validate_card_number(data.card_number)
    except GatewayInvalidCard as exc:
        if not errors:
            raise InvalidCard("The card number is not valid.", errors=exc.errors) from None
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)
    return data.email.strip()


def _now() -> datetime:
    return datetime.now(UTC)


class CheckoutSaga:
    """The orchestrator. Thread-safe: every call uses its own connections."""

    def __init__(
        self, engine: Engine, participant: MonolithParticipant, gateway: PaymentGateway,
        settings: Settings, metrics: SagaMetrics | None = None,
    ) -> None:  # fmt: skip
        self._engine = engine
        self._participant = participant
        self._gateway = gateway
        self._settings = settings
        self.metrics = metrics or SagaMetrics()
        self.metrics.count_in_flight_with(self.in_flight)

    # --- the request ---------------------------------------------------------------------

    def checkout(
        self, data: CheckoutInput, customer: Customer, *, idempotency_key: str | None,
        forwarded: Mapping[str, str],
    ) -> CheckoutResult:  # fmt: skip
        """Place the order and drive its saga to the end; raises the legacy problems."""
        email = validate(data, idempotency_key)
        key = idempotency_key or uuid.uuid4().hex
        owner = customer.owner(email)
        replay = self._replay(key, owner)
        if replay is not None:
            return replay
        lines, currency, cart_id = self._cart(forwarded)
        card = self._gateway.tokenize(data.card_number)
        saga_id, holder = uuid.uuid4(), f"request:{uuid.uuid4()}"
        address = Address(
            name=data.name.strip(), line1=data.line1.strip(), line2=data.line2.strip(),
            city=data.city.strip(), zip=data.zip.strip(), country=data.country.strip().upper(),
        )  # fmt: skip
        try:
            with self._transaction() as (orders, log):
                order_id = orders.next_order_id()
                log.create(
                    saga_id=saga_id, order_id=order_id, idempotency_key=key, owner=owner,
                    cart_id=cart_id, card_token=card.token, lease_holder=holder,
                    lease=self._settings.saga_lease, deadline=self._settings.saga_deadline,
                )  # fmt: skip
                placed = OrderPlaced(
                    order_id=order_id, saga_id=str(saga_id), user_id=customer.user_id,
                    email=email, shipping=address, lines=lines, currency=currency,
                    total_minor=sum(line.total_minor for line in lines), at=_now(),
                )  # fmt: skip
                orders.save(None, [placed], {"saga_id": str(saga_id)})
        except IntegrityError:
            # The same key committed first in a concurrent request: answer as it will.
            replay = self._replay(key, owner)
            if replay is None:
                raise
            return replay
        self.drive(saga_id, holder)
        return self.result(saga_id, replayed=False)

    def _cart(self, forwarded: Mapping[str, str]) -> tuple[tuple[OrderLine, ...], str, int]:
        try:
            cart = self._participant.cart(forwarded)
        except (ParticipantUnavailable, ParticipantRefused) as exc:
            logger.warning("cart unavailable: %s", exc)
            raise CheckoutUnavailable("The cart could not be read; please try again.") from exc
        except UntranslatableRecord as exc:
            raise CheckoutUnavailable("The cart could not be read; please try again.") from exc
        items = sorted(cart.lines, key=lambda line: line.product_id)
        if cart.cart_id is None or not items:
            raise EmptyCart("Your cart is empty.")
        unavailable = [i.sku.strip() for i in items if not i.available]
        if unavailable:
            raise ProductUnavailable(
                f"No longer available: {', '.join(unavailable)}. Remove them from the cart."
            )
        currencies = {i.currency for i in items}
        if len(currencies) > 1:
            raise ValidationFailed("The cart mixes currencies; check out one currency at a time.")
        lines = tuple(
            OrderLine(product_id=i.product_id, sku=i.sku, name=i.name,
                      unit_price_minor=i.unit_price_minor, quantity=i.quantity)
            for i in items
        )  # fmt: skip
        return lines, currencies.pop(), cart.cart_id

    def _replay(self, key: str, owner: str) -> CheckoutResult | None:
        with self._engine.connect() as conn:
            found = SagaLog(conn).by_key(key)
        if not found:
            return None
        saga = next((s for s in found if s.owner == owner), None)
        if saga is None:
            raise IdempotencyKeyReused("This Idempotency-Key was used for another checkout.")
        self._settle(saga)
        return self.result(saga.saga_id, replayed=True)

    def _settle(self, saga: SagaRow) -> None:
        """Let an unfinished saga (the first request's) finish: take it over if its driver
        is gone, else wait for it for at most one step timeout."""
        give_up = time.monotonic() + self._settings.saga_step_timeout
        while time.monotonic() < give_up:
            holder = f"request:{uuid.uuid4()}"
            with self._engine.begin() as conn:
                log = SagaLog(conn)
                current = log.get(saga.saga_id)
                if current is None or current.terminal or current.step == "clear_cart":
                    return
                if current.lease_until < _now():
                    log.update(saga.saga_id, lease_holder=holder)
                    log.renew(saga.saga_id, holder, self._settings.saga_lease)
                    taken = True
                else:
                    taken = False
            if taken:
                self.drive(saga.saga_id, holder)
                return
            time.sleep(0.05)  # the other driver is working on it

    def result(self, saga_id: uuid.UUID, *, replayed: bool) -> CheckoutResult:
        """The checkout's answer as the saga and its order stand now."""
        with self._engine.connect() as conn:
            saga = SagaLog(conn).get(saga_id)
            assert saga is not None
            order = OrderRepository(conn).get(saga.order_id)
        assert order is not None
        confirmed = any(
            p.status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED) for p in order.payments
        )
        if confirmed or saga.state == COMPLETED:
            return CheckoutResult(order.snapshot(), replayed)
        if order.status == OrderStatus.REJECTED and order.rejection is not None:
            rejection = order.rejection
            if rejection.sku:
                raise InsufficientStock(
                    rejection.detail or "Not enough stock.",
                    sku=rejection.sku,
                    available=rejection.available or 0,
                )
            raise ProductUnavailable(rejection.detail or "A product is no longer available.")
        declined = order.payment(PaymentStatus.DECLINED)
        if declined is not None:
            raise PaymentDeclinedError(
                DECLINE_MESSAGES.get(declined.decline_code, "Your card was declined."),
                reason=declined.decline_code, order_id=order.order_id,
            )  # fmt: skip
        order_id = order.order_id if order.visible else None
        if saga.cancel_reason is not None:
            raise CheckoutUnavailable(
                "The checkout could not be completed in time; nothing was charged.",
                order_id=order_id,
            )
        raise CheckoutInProgress(
            "The checkout is still in progress; repeat the request with the same "
            "Idempotency-Key to see its outcome.", order_id=order_id,
        )  # fmt: skip

    # --- driving -------------------------------------------------------------------------

    def drive(self, saga_id: uuid.UUID, holder: str) -> None:
        """Run the saga's next steps until it ends, is deferred, or another driver holds it."""
        failures = 0
        while True:
            with self._engine.begin() as conn:
                log = SagaLog(conn)
                if not log.renew(saga_id, holder, self._settings.saga_lease):
                    return  # finished, or another driver holds the lease
                saga = log.get(saga_id)
                assert saga is not None
                steps = log.steps(saga_id)
                order = OrderRepository(conn).get(saga.order_id)
            assert order is not None
            step = self._next_step(saga, order, steps)
            try:
                outcome = step(saga, order, steps, holder)
            except ParticipantUnavailable as exc:
                failures += 1
                if not self._retry_later(saga, holder, exc, failures):
                    return
                continue
            except (LeaseLost, ConcurrencyConflict) as exc:
                logger.info("saga %s: %s", saga_id, exc)
                if isinstance(exc, LeaseLost):
                    return
                continue
            failures = 0
            if outcome == "stop":
                return

    Step = Callable[[SagaRow, Order, list[StepRecord], str], str]

    def _next_step(self, saga: SagaRow, order: Order, steps: list[StepRecord]) -> Step:
        if saga.state == RUNNING:
            if order.status == OrderStatus.PENDING:
                return self._reserve
            if order.status == OrderStatus.AWAITING_PAYMENT:
                return self._authorise
            if order.status == OrderStatus.AUTHORISED:
                return self._confirm
            if order.status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED,
                                OrderStatus.CANCELLED):  # fmt: skip
                return self._clear_cart
            return self._finish_rejected
        if order.payment(PaymentStatus.AUTHORISED) is not None:
            return self._void
        reservation = sent_command(steps, "reserve")
        if (
            reservation is not None
            and not order.released
            and not any(
                s.step == "reserve"
                and s.status == "failed"
                and (s.response or {}).get("outcome") in ("insufficient_stock", "unknown_product")
                for s in steps
            )
        ):
            return self._release
        return self._cancel

    def _retry_later(self, saga: SagaRow, holder: str, exc: Exception, failures: int) -> bool:
        """After a failed participant call: True to retry now (after a backoff)."""
        logger.warning("saga %s step %s: %s", saga.saga_id, saga.step, exc)
        past_deadline = _now() >= saga.deadline
        with self._engine.begin() as conn:
            log = SagaLog(conn)
            log.update(saga.saga_id, last_error=str(exc)[:500], attempts=saga.attempts + 1)
            backoff = min(self._settings.saga_backoff_base * 2 ** (failures - 1), 2.0)
            if saga.state == RUNNING and saga.step in ("reserve", "authorise") and past_deadline:
                self._begin_compensation(log, saga, "timeout")
                return True
            if saga.step in ("clear_cart", "release"):
                # Not on the client's critical path: hand it to the worker after a backoff.
                log.release_lease(saga.saga_id, holder, delay=backoff)
                return False
        time.sleep(backoff)
        return True

    def _begin_compensation(self, log: SagaLog, saga: SagaRow, reason: str) -> None:
        log.update(saga.saga_id, state=COMPENSATING, step="void", cancel_reason=reason)
        logger.info("saga %s compensates: %s", saga.saga_id, reason)

    @contextmanager
    def _transaction(self) -> Iterator[tuple[OrderRepository, SagaLog]]:
        recorded: list[str] = []
        with self._engine.begin() as conn:
            yield OrderRepository(conn, on_recorded=recorded.append), SagaLog(conn)
        fault = self._settings.fault_crash_after
        if fault is not None and fault in recorded:
            logger.critical("ORDERS_FAULT_CRASH_AFTER=%s: exiting after the commit", fault)
            os._exit(CRASH_EXIT_CODE)

    @contextmanager
    def _step_transaction(
        self, saga: SagaRow, holder: str
    ) -> Iterator[tuple[OrderRepository, SagaLog]]:
        """A transaction that proceeds only while ``holder`` still holds the saga."""
        with self._transaction() as (orders, log):
            if log.lock(saga.saga_id, holder) is None:
                raise LeaseLost(f"saga {saga.saga_id} is driven by another holder now")
            yield orders, log

    def _command(self, saga: SagaRow, steps: list[StepRecord], step: str,
                 holder: str) -> uuid.UUID:  # fmt: skip
        """The step's command id: the one logged before (re-send it), or a new one, logged
        as ``sent`` and committed before the command goes out."""
        existing = sent_command(steps, step)
        if existing is not None:
            return existing
        command_id = uuid.uuid4()
        with self._step_transaction(saga, holder) as (_, log):
            log.log_step(saga.saga_id, step, command_id, "sent")
            log.update(saga.saga_id, step=step)
        return command_id

    def _timed(self, step: str, call: Callable[[], T]) -> T:
        start = time.perf_counter()
        result = "error"
        try:
            value = call()
            result = "ok"
            return value
        finally:
            self.metrics.step_latency.labels(step, result).observe(time.perf_counter() - start)

    def _save(self, orders: OrderRepository, order: Order, event: Event, saga: SagaRow,
              command_id: uuid.UUID | None = None) -> Order:  # fmt: skip
        metadata: dict[str, Any] = {"saga_id": str(saga.saga_id)}
        if command_id is not None:
            metadata["command_id"] = str(command_id)
        return orders.save(order, [event], metadata)

    # --- the steps -----------------------------------------------------------------------

    def _reserve(self, saga: SagaRow, order: Order, steps: list[StepRecord], holder: str) -> str:
        if _now() >= saga.deadline:
            with self._step_transaction(saga, holder) as (_, log):
                self._begin_compensation(log, saga, "timeout")
            return "next"
        command_id = self._command(saga, steps, "reserve", holder)
        try:
            outcome = self._timed("reserve", lambda: self._participant.reserve(
                command_id, order.order_id, order.lines))  # fmt: skip
        except ParticipantRefused as exc:
            logger.error("saga %s: the monolith refused the reservation: %s", saga.saga_id, exc)
            with self._step_transaction(saga, holder) as (_, log):
                log.log_step(saga.saga_id, "reserve", command_id, "failed",
                             {"outcome": "refused", "status": exc.status})  # fmt: skip
                self._begin_compensation(log, saga, "participant_refused")
            return "next"
        with self._step_transaction(saga, holder) as (orders, log):
            if outcome.outcome == "reserved":
                self._save(orders, order, StockReserved(str(command_id), _now()), saga,
                           command_id)  # fmt: skip
                log.log_step(saga.saga_id, "reserve", command_id, "succeeded",
                             outcome.as_json())  # fmt: skip
                log.update(saga.saga_id, step="authorise")
            elif outcome.outcome in ("insufficient_stock", "unknown_product"):
                rejected = StockRejected(outcome.sku or "", outcome.available, outcome.detail,
                                         _now())  # fmt: skip
                self._save(orders, order, rejected, saga, command_id)
                log.log_step(saga.saga_id, "reserve", command_id, "failed", outcome.as_json())
                log.update(saga.saga_id, state=REJECTED, step="done", lease_holder=None)
                self.metrics.outcomes.labels("rejected").inc()
            else:  # "cancelled": a release for this reservation arrived first
                log.log_step(saga.saga_id, "reserve", command_id, "failed", outcome.as_json())
                self._begin_compensation(log, saga, saga.cancel_reason or "timeout")
        return "next"

    def _authorise(self, saga: SagaRow, order: Order, steps: list[StepRecord],
                   holder: str) -> str:  # fmt: skip
        if _now() >= saga.deadline:
            with self._step_transaction(saga, holder) as (_, log):
                self._begin_compensation(log, saga, "timeout")
            return "next"
        command_id = self._command(saga, steps, "authorise", holder)
        key = str(command_id)
        try:
            result = self._timed("authorise", lambda: self._gateway.authorise(
                saga.card_token, order.total_minor, order.currency, key))  # fmt: skip
        except Exception as exc:  # the PSP is a remote party: any failure is "no answer"
            raise ParticipantUnavailable(f"gateway: {exc.__class__.__name__}: {exc}") from exc
        with self._step_transaction(saga, holder) as (orders, log):
            payment_id = orders.next_payment_id()
            answer = {"approved": result.approved, "ref": result.ref, "code": result.code}
            if result.approved:
                event: Event = PaymentAuthorised(
                    payment_id=payment_id, gateway_ref=result.ref, amount_minor=order.total_minor,
                    card_last4=result.card_last4, idempotency_key=key, at=_now(),
                )  # fmt: skip
                self._save(orders, order, event, saga, command_id)
                log.log_step(saga.saga_id, "authorise", command_id, "succeeded", answer)
                log.update(saga.saga_id, step="confirm")
            else:
                event = PaymentDeclined(
                    payment_id=payment_id, gateway_ref=result.ref, amount_minor=order.total_minor,
                    decline_code=result.code, card_last4=result.card_last4, idempotency_key=key,
                    at=_now(),
                )  # fmt: skip
                self._save(orders, order, event, saga, command_id)
                log.log_step(saga.saga_id, "authorise", command_id, "failed", answer)
                self._begin_compensation(log, saga, "payment_declined")
        return "next"

    def _confirm(self, saga: SagaRow, order: Order, steps: list[StepRecord], holder: str) -> str:
        payment = order.payment(PaymentStatus.AUTHORISED)
        assert payment is not None
        command_id = self._command(saga, steps, "confirm", holder)
        try:
            captured = self._timed("capture", lambda: self._gateway.capture(payment.gateway_ref))
        except Exception as exc:
            raise ParticipantUnavailable(f"gateway: {exc.__class__.__name__}: {exc}") from exc
        with self._step_transaction(saga, holder) as (orders, log):
            if not captured:
                log.log_step(saga.saga_id, "confirm", command_id, "failed", {"captured": False})
                self._begin_compensation(log, saga, "capture_failed")
                return "next"
            self._save(orders, order, OrderConfirmed(_now()), saga, command_id)
            log.log_step(saga.saga_id, "confirm", command_id, "succeeded", {"captured": True})
            log.update(saga.saga_id, step="clear_cart")
        self.metrics.outcomes.labels("completed").inc()
        return "next"

    def _clear_cart(self, saga: SagaRow, order: Order, steps: list[StepRecord],
                    holder: str) -> str:  # fmt: skip
        if saga.cart_id is None:
            with self._step_transaction(saga, holder) as (_, log):
                log.update(saga.saga_id, state=COMPLETED, step="done", lease_holder=None)
            return "stop"
        give_up = saga.deadline.timestamp() + CART_CLEAR_GRACE
        command_id = self._command(saga, steps, "clear_cart", holder)
        try:
            outcome = self._timed("clear_cart", lambda: self._participant.clear_cart(
                command_id, saga.cart_id or 0))  # fmt: skip
        except (ParticipantUnavailable, ParticipantRefused) as exc:
            if time.time() < give_up and isinstance(exc, ParticipantUnavailable):
                raise
            logger.error("saga %s: the cart was not cleared: %s", saga.saga_id, exc)
            with self._step_transaction(saga, holder) as (_, log):
                log.log_step(saga.saga_id, "clear_cart", command_id, "failed",
                             {"error": str(exc)[:500]})  # fmt: skip
                log.update(saga.saga_id, state=COMPLETED, step="done", lease_holder=None,
                           last_error=f"cart not cleared: {exc}"[:500])  # fmt: skip
            return "stop"
        with self._step_transaction(saga, holder) as (_, log):
            log.log_step(saga.saga_id, "clear_cart", command_id, "succeeded", outcome.as_json())
            log.update(saga.saga_id, state=COMPLETED, step="done", lease_holder=None)
        return "stop"

    def _finish_rejected(self, saga: SagaRow, order: Order, steps: list[StepRecord],
                         holder: str) -> str:  # fmt: skip
        with self._step_transaction(saga, holder) as (_, log):
            log.update(saga.saga_id, state=REJECTED, step="done", lease_holder=None)
        return "stop"

    def _void(self, saga: SagaRow, order: Order, steps: list[StepRecord], holder: str) -> str:
        payment = order.payment(PaymentStatus.AUTHORISED)
        assert payment is not None
        command_id = self._command(saga, steps, "void", holder)
        try:
            self._timed("void", lambda: self._gateway.void(payment.gateway_ref))
        except Exception as exc:
            raise ParticipantUnavailable(f"gateway: {exc.__class__.__name__}: {exc}") from exc
        with self._step_transaction(saga, holder) as (orders, log):
            self._save(orders, order, PaymentVoided(payment.payment_id, _now()), saga, command_id)
            log.log_step(saga.saga_id, "void", command_id, "compensated", {"voided": True})
        return "next"

    def _release(self, saga: SagaRow, order: Order, steps: list[StepRecord],
                 holder: str) -> str:  # fmt: skip
        reservation_id = sent_command(steps, "reserve")
        assert reservation_id is not None
        command_id = self._command(saga, steps, "release", holder)
        outcome = self._timed("release", lambda: self._participant.release(
            command_id, reservation_id, order.order_id))  # fmt: skip
        with self._step_transaction(saga, holder) as (orders, log):
            self._save(orders, order, StockReleased(str(command_id), _now()), saga, command_id)
            log.log_step(saga.saga_id, "release", command_id, "compensated", outcome.as_json())
        return "next"

    def _cancel(self, saga: SagaRow, order: Order, steps: list[StepRecord], holder: str) -> str:
        reason = saga.cancel_reason or "cancelled"
        with self._step_transaction(saga, holder) as (orders, log):
            if order.status != OrderStatus.CANCELLED:
                self._save(orders, order, OrderCancelled(reason, _now()), saga)
            log.update(saga.saga_id, state=COMPENSATED, step="done", lease_holder=None)
        self.metrics.outcomes.labels("declined" if reason == "payment_declined" else reason).inc()
        return "stop"

    def in_flight(self) -> int:
        with self._engine.connect() as conn:
            return SagaLog(conn).in_flight()

    def close(self) -> None:
        self._participant.close()


class SagaWorker:
    """Recovers sagas whose driver died: claims one whose lease expired, drives it."""

    def __init__(self, saga: CheckoutSaga, engine: Engine, settings: Settings,
                 name: str | None = None) -> None:  # fmt: skip
        self._saga = saga
        self._engine = engine
        self._settings = settings
        self.name = name or f"worker:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.registry = saga.metrics.registry

    def close(self) -> None:
        self._saga.close()

    def claim(self) -> SagaRow | None:
        with self._engine.begin() as conn:
            return SagaLog(conn).claim_expired(self.name, self._settings.saga_lease)

    def run_once(self) -> uuid.UUID | None:
        """Drive one abandoned saga; its id, or None when there was none to take."""
        saga = self.claim()
        if saga is None:
            return None
        logger.info("%s recovers saga %s (step %s)", self.name, saga.saga_id, saga.step)
        self._saga.drive(saga.saga_id, self.name)
        return saga.saga_id

    def run(self, stop: StopFlag) -> None:
        while not stop.is_set():
            try:
                took = self.run_once()
            except Exception:  # a database hiccup must not end the worker
                logger.exception("saga worker round failed")
                took = None
            if took is None:
                stop.wait(self._settings.saga_worker_interval)
