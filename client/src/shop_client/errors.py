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


class NotFound(ShopAPIError):
    pass


class Conflict(ShopAPIError):
    pass


class PaymentDeclined(ShopAPIError):
    pass


class NotAuthenticated(ShopAPIError):
    pass


class UnexpectedResponse(Exception):
    """A success status whose body does not have the contracted shape."""
