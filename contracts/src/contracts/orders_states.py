"""Provider states for the orders service, and the facade's identity bridge in front of it.

The orders service keeps no carts, products or stock: the monolith does, as the saga's
participant. A state therefore has two halves: the monolith's half goes to the monolith's
own state endpoint (``shop.pact_states``: the participant's data, under the same state
name), and the service's half is seeded through the service's own code: its tables are
wiped, and an order a state needs is placed by the service's checkout saga against that
participant, exactly as ``POST /api/checkout/`` places one.

``FacadeIdentity`` stands in for the facade on the replayed requests: an
``Authorization: Token <key>`` a state registered becomes the signed
``X-Strangler-Identity`` for that user, addressed to the service; a guest's request goes
through untouched (the facade signs nothing for a guest).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from orders_service.adapters.tables import ORDER_ID_SEQUENCE
from orders_service.bootstrap import checkout_saga
from orders_service.service_layer.saga import CheckoutInput, Customer
from orders_service.settings import Settings
from sqlalchemy import Engine, text

IDENTITY_HEADER = "X-Strangler-Identity"
ORDERS_TABLES = (
    "order_events, order_summaries, saga_steps, sagas, gateway_authorisations,"
    " gateway_cards, outbox, outbox_aggregate_version, backfill_checkpoints, dead_letters"
)
# The monolith's half of a state, when it is not the state itself: the service places the
# customer's order from the customer's cart.
MONOLITH_STATE = {"a customer has a paid order": "a customer's cart holds products in stock"}
ORDER_INPUT = CheckoutInput(email="ada@example.com", name="Ada Lovelace",
                            line1="1 Analytical Way", city="London", zip="N1 7AA",
                            country="GB", card_number="4242 4242 4242 4242")  # fmt: skip


class FacadeIdentity:
    """Pure ASGI: ``Authorization: Token <key>`` of a known user -> the signed identity."""

    def __init__(self, app: Any, *, key: ed25519.Ed25519PrivateKey, settings: Settings,
                 users: Mapping[str, int]) -> None:  # fmt: skip
        self.app, self.key, self.settings, self.users = app, key, settings, users

    def token_for(self, user_id: int) -> str:
        now = int(time.time())
        claims = {"sub": str(user_id), "staff": False, "scopes": [], "iat": now,
                  "exp": now + 60, "iss": self.settings.identity_issuer,
                  "aud": self.settings.identity_audience}  # fmt: skip
        return jwt.encode(claims, self.key, algorithm="EdDSA")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != IDENTITY_HEADER.lower().encode()]
            for name, value in headers:
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if name == b"authorization" and scheme.lower() == "token":
                    user_id = self.users.get(credential.strip())
                    if user_id is not None:
                        token = self.token_for(user_id).encode()
                        headers.append((IDENTITY_HEADER.lower().encode(), token))
                    break
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {ORDERS_TABLES} CASCADE"))


def _monolith_state(monolith_url: str, state: str, params: Mapping[str, Any]) -> None:
    response = httpx.post(
        f"{monolith_url}/_pact/provider-states",
        json={"state": state, "params": dict(params), "action": "setup"},
        timeout=30,
    )
    response.raise_for_status()


def _place_customer_order(engine: Engine, settings: Settings, params: Mapping[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(text("SELECT setval(:seq, :value, false)"),
                     {"seq": ORDER_ID_SEQUENCE, "value": int(params["order_id"])})  # fmt: skip
    saga = checkout_saga(settings, engine)
    try:
        saga.checkout(
            ORDER_INPUT, Customer(user_id=int(params["user_id"])), idempotency_key=None,
            forwarded={"authorization": f"Token {params['token']}"},
        )  # fmt: skip
    finally:
        saga.close()


def state_handlers(engine: Engine, settings: Settings, *, monolith_url: str,
                   users: MutableMapping[str, int]) -> dict[str, Callable[..., None]]:  # fmt: skip
    """``{state name: handler(action, parameters)}`` for ``Verifier.state_handler``."""

    def make(state: str) -> Callable[..., None]:
        def handler(action: str, parameters: Mapping[str, Any] | None = None) -> None:
            if action != "setup":
                return
            params = parameters or {}
            wipe(engine)
            users.clear()
            _monolith_state(monolith_url, MONOLITH_STATE.get(state, state), params)
            if "token" in params:
                users[str(params["token"])] = int(params["user_id"])
            if state == "a customer has a paid order":
                _place_customer_order(engine, settings, params)

        return handler

    names = ("a guest cart holds products in stock", "a guest cart holds more than is in stock",
             "the guest has no cart", "a customer has a paid order")  # fmt: skip
    return {name: make(name) for name in names}
