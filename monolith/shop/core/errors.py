"""Domain errors raised by services and selectors.

Each carries what an RFC 9457 problem needs (status, a type slug, a title, a detail and
optional field errors) so the API layer and the storefront can present it without
knowing the individual cases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    status: int = 400
    slug: str = "domain-error"
    title: str = "The request could not be processed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        super().__init__(self.detail)


class ValidationFailed(DomainError):
    status = 400
    slug = "validation-error"
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class DuplicateSku(Conflict):
    slug = "duplicate-sku"
    title = "A product with this SKU already exists"


class CatalogWritesMoved(DomainError):
    """Catalog writes are frozen here: the catalog service owns them (step 4)."""

    status = 423
    slug = "catalog-writes-moved"
    title = "Catalog writes have moved to the catalog service"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "Catalog writes have moved to the catalog service; change products there "
            "(POST/PATCH /v2/products). Nothing was changed here."
        )


class CheckoutMoved(DomainError):
    """Orders are frozen here: the orders service owns checkout and orders (step 5)."""

    status = 423
    slug = "checkout-moved"
    title = "Checkout has moved to the orders service"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "Checkout is served by the orders service now (POST /api/checkout/ through the "
            "facade), and orders change there. Nothing was changed here."
        )


class InsufficientStock(Conflict):
    slug = "insufficient-stock"
    title = "Not enough stock"

    def __init__(self, detail: str | None = None, *, sku: str = "", available: int = 0) -> None:
        super().__init__(detail)
        self.sku = sku
        self.available = available


class ProductUnavailable(Conflict):
    slug = "product-unavailable"
    title = "Product is not available"


class EmptyCart(Conflict):
    slug = "empty-cart"
    title = "The cart is empty"


class InvalidOrderTransition(Conflict):
    slug = "invalid-order-transition"
    title = "Invalid order status transition"


class PaymentDeclined(DomainError):
    status = 402
    slug = "payment-declined"
    title = "Payment declined"

    def __init__(
        self, detail: str | None = None, *, reason: str = "declined", order_id: int | None = None
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.order_id = order_id


class InvalidCard(ValidationFailed):
    slug = "invalid-card"
    title = "Invalid card number"


class IdempotencyKeyReused(Conflict):
    slug = "idempotency-key-reused"
    title = "Idempotency key already used for a different request"
