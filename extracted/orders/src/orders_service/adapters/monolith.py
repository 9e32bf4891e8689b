"""The monolith as a saga participant: its internal checkout and inventory endpoints.

Every command carries a ``command_id``; the monolith deduplicates on it and answers a
repeat with the outcome it recorded the first time (``replayed: true``). Network errors,
timeouts and 5xx answers are :class:`ParticipantUnavailable` (retry the same command);
a 4xx answer is :class:`ParticipantRefused` (a bug or a trust problem: do not retry).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from acl.orders.domain import Cart
from acl.orders.legacy import cart_from_legacy_json

from orders_service.domain import OrderLine

FORWARDED_HEADERS = ("cookie", "authorization")


class ParticipantUnavailable(Exception):
    """The participant did not answer (in time): the outcome is unknown, retry."""


class ParticipantRefused(Exception):
    """The participant refused the request (4xx): retrying the same request will not help."""

    def __init__(self, status: int, body: str) -> None:
        self.status, self.body = status, body
        super().__init__(f"the monolith answered {status}: {body[:200]}")


@dataclass(frozen=True, slots=True)
class ReservationOutcome:
    outcome: str  # reserved | insufficient_stock | unknown_product | cancelled
    replayed: bool
    detail: str
    sku: str | None
    available: int | None

    def as_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "replayed": self.replayed, "detail": self.detail,
                "sku": self.sku, "available": self.available}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    outcome: str  # released | nothing_reserved | cleared | no_cart
    replayed: bool

    def as_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "replayed": self.replayed}


class MonolithParticipant:
    """One long-lived httpx client; ``timeout`` bounds each call (the saga's step timeout)."""

    def __init__(self, base_url: str, *, timeout: float,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                    transport=transport)  # fmt: skip

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, *, json: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
        try:
            response = self._client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ParticipantUnavailable(f"{path}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise ParticipantUnavailable(f"{path}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise ParticipantRefused(response.status_code, response.text)
        try:
            body = response.json()
        except ValueError:
            raise ParticipantUnavailable(f"{path}: not JSON") from None
        if not isinstance(body, dict):
            raise ParticipantUnavailable(f"{path}: not a JSON object")
        return body

    def cart(self, forwarded: Mapping[str, str]) -> Cart:
        """The caller's cart: ``forwarded`` holds the client's Cookie/Authorization headers."""
        headers = {k: v for k, v in forwarded.items() if k.lower() in FORWARDED_HEADERS}
        return cart_from_legacy_json(self._call("GET", "/_internal/checkout/cart",
                                                headers=headers))  # fmt: skip

    def reserve(self, command_id: uuid.UUID, order_id: int,
                lines: Sequence[OrderLine]) -> ReservationOutcome:  # fmt: skip
        body = self._call("POST", "/_internal/inventory/reservations", json={
            "command_id": str(command_id), "order_id": order_id,
            "lines": [{"product_id": ln.product_id, "quantity": ln.quantity} for ln in lines],
        })  # fmt: skip
        available = body.get("available")
        return ReservationOutcome(
            outcome=str(body.get("outcome")), replayed=bool(body.get("replayed")),
            detail=str(body.get("detail") or ""),
            sku=body.get("sku") if isinstance(body.get("sku"), str) else None,
            available=available if isinstance(available, int) else None,
        )  # fmt: skip

    def release(self, command_id: uuid.UUID, reservation_id: uuid.UUID,
                order_id: int) -> CommandOutcome:  # fmt: skip
        body = self._call("POST", "/_internal/inventory/releases", json={
            "command_id": str(command_id), "reservation_id": str(reservation_id),
            "order_id": order_id,
        })  # fmt: skip
        return CommandOutcome(str(body.get("outcome")), bool(body.get("replayed")))

    def clear_cart(self, command_id: uuid.UUID, cart_id: int) -> CommandOutcome:
        body = self._call("POST", "/_internal/checkout/cart/clear",
                          json={"command_id": str(command_id), "cart_id": cart_id})  # fmt: skip
        return CommandOutcome(str(body.get("outcome")), bool(body.get("replayed")))
