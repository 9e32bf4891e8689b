"""The errors the service layer raises, each with what an RFC 9457 problem needs.

They mirror the monolith's ``shop.core.errors`` one for one (status, type slug, title and
the extra members ``order_id``, ``reason``, ``sku``, ``available``), so a client cannot
tell which side answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ServiceError(Exception):
    status: int = 400
    slug: str = "domain-error"
    title: str = "The request could not be processed"

    def __init__(self, detail: str | None = None, *,
                 errors: Mapping[str, Sequence[str]] | None = None) -> None:  # fmt: skip
        self.detail = detail or self.title
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        super().__init__(self.detail)

    def extra(self) -> dict[str, Any]:
        return {}


class ValidationFailed(ServiceError):
    status, slug, title = 400, "validation-error", "Invalid input"


class InvalidCard(ValidationFailed):
    slug, title = "invalid-card", "Invalid card number"


class NotFound(ServiceError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ServiceError):
    status, slug, title = 409, "conflict", "Conflict"


class EmptyCart(Conflict):
    slug, title = "empty-cart", "The cart is empty"


class ProductUnavailable(Conflict):
    slug, title = "product-unavailable", "Product is not available"


class IdempotencyKeyReused(Conflict):
    slug, title = "idempotency-key-reused", "Idempotency key already used for a different request"


class InvalidOrderTransition(Conflict):
    slug, title = "invalid-order-transition", "Invalid order status transition"


class InsufficientStock(Conflict):
    slug, title = "insufficient-stock", "Not enough stock"

    def __init__(self, detail: str | None = None, *, sku: str = "", available: int = 0) -> None:
        super().__init__(detail)
        self.sku, self.available = sku, available

    def extra(self) -> dict[str, Any]:
        return {"sku": self.sku.strip(), "available": self.available} if self.sku else {}


class PaymentDeclined(ServiceError):
    status, slug, title = 402, "payment-declined", "Payment declined"

    def __init__(self, detail: str | None = None, *, reason: str = "declined",
                 order_id: int | None = None) -> None:  # fmt: skip
        super().__init__(detail)
        self.reason, self.order_id = reason, order_id

    def extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.order_id is not None:
            extra["order_id"] = self.order_id
        if self.reason:
            extra["reason"] = self.reason
        return extra


class CheckoutUnavailable(ServiceError):
    """A participant did not answer before the saga's deadline; nothing was charged."""

    status, slug, title = 503, "checkout-unavailable", "Checkout is temporarily unavailable"

    def __init__(self, detail: str | None = None, *, order_id: int | None = None) -> None:
        super().__init__(detail)
        self.order_id = order_id

    def extra(self) -> dict[str, Any]:
        return {} if self.order_id is None else {"order_id": self.order_id}


class CheckoutInProgress(CheckoutUnavailable):
    slug, title = "checkout-in-progress", "The checkout is still in progress"
