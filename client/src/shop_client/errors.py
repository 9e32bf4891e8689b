"""Errors the client raises: one per kind of answer a caller handles differently."""

from __future__ import annotations

from shop_client.models import Problem


class ShopAPIError(Exception):
    """The API answered with an error (a problem document when it sent one)."""

    def __init__(self, status: int, problem: Problem) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.title or 'error'}: {problem.detail}".strip())

    @property
    def slug(self) -> str:
        """The problem type's last path segment, e.g. ``insufficient-stock``."""
        return self.problem.type.rstrip("/").rsplit("/", 1)[-1]


class InvalidInput(ShopAPIError):
    """400: ``problem.errors`` names each refused field."""


class Forbidden(ShopAPIError):
    """403: signed in, but not allowed (e.g. a shopper calling a staff endpoint)."""


class NotFound(ShopAPIError):
    pass


class Conflict(ShopAPIError):
    pass


class PaymentDeclined(ShopAPIError):
    pass


class NotAuthenticated(ShopAPIError):
    pass


class Locked(ShopAPIError):
    """423: catalog writes are refused here for now; the slug says why
    (``catalog-writes-frozen`` in the service, ``catalog-writes-moved`` in the monolith)."""


class UnexpectedResponse(Exception):
    """A success status whose body does not have the contracted shape."""
