from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client


class Internal:
    """A trusted peer (the orders service) calling the participant endpoints."""

    def __init__(self) -> None:
        self.client = Client()

    def post(self, path: str, body: Any, **extra: Any) -> Any:
        return self.client.post(
            path, data=json.dumps(body), content_type="application/json", **extra
        )

    def reserve(self, order_id: int, lines: list[tuple[int, int]], command_id: str = "") -> Any:
        return self.post(
            "/_internal/inventory/reservations",
            {
                "command_id": command_id or str(uuid.uuid4()),
                "order_id": order_id,
                "lines": [{"product_id": p, "quantity": q} for p, q in lines],
            },
        )

    def release(self, reservation_id: str, order_id: int, command_id: str = "") -> Any:
        return self.post(
            "/_internal/inventory/releases",
            {
                "command_id": command_id or str(uuid.uuid4()),
                "reservation_id": reservation_id,
                "order_id": order_id,
            },
        )


@pytest.fixture
def internal() -> Internal:
    return Internal()
