"""Dry runs for the facade's shadow copies of writes (``X-Strangler-Dry-Run: 1``).

When the service is the *candidate* of a shadowed write route, the facade sends it a copy
of each write with that header. Write endpoints take their connection from
``WriteTransaction``: one pooled connection in one transaction, committed normally and
rolled back in a dry run. The answer then says ``X-Strangler-Dry-Run: rolled-back``.

Who may ask: only peers whose socket address is in ``CATALOG_DRY_RUN_TRUSTED_NETWORKS``
(default loopback), i.e. the facade, which strips the header from what clients send.
Forwarding headers are not consulted. Others get a 403 and nothing runs.

Refused (422, nothing runs): an unsafe request to an endpoint that does not write through
``WriteTransaction``, since nothing then guarantees its writes are undone.
Safe methods (GET, HEAD, OPTIONS) run as they are: they do not write.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from typing import Annotated, Any

from acl.catalog.legacy_json import render
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-strangler-dry-run"
CONFIRMED = b"rolled-back"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_active: ContextVar[bool] = ContextVar("dry_run", default=False)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def dry_run_active() -> bool:
    """True while a trusted dry-run request is being served (for writers outside HTTP deps)."""
    return _active.get()


def parse_networks(raw: str | Sequence[str]) -> list[Network]:
    items = raw.split(",") if isinstance(raw, str) else raw
    return [ipaddress.ip_network(n.strip(), strict=False) for n in items if n.strip()]


async def write_transaction(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    """One connection, one transaction: committed, or rolled back in a dry run."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        yield conn
        if request.scope.get("state", {}).get("dry_run"):
            await conn.rollback()
        else:
            await conn.commit()


WriteTransaction = Annotated[AsyncConnection[Any], Depends(write_transaction)]


def _writes_through_transaction(dependant: Dependant) -> bool:
    return any(
        dep.call is write_transaction or _writes_through_transaction(dep)
        for dep in dependant.dependencies
    )


class DryRunMiddleware:
    def __init__(self, app: ASGIApp, trusted_networks: Sequence[Network]) -> None:
        self.app = app
        self.trusted = list(trusted_networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(k == HEADER for k, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        if not self._trusted(scope):
            await self._refuse(
                send, 403, "dry-run-refused", "dry runs are accepted from the facade only", scope
            )
            return
        if scope["method"] not in SAFE_METHODS and not self._undoable(scope):
            await self._refuse(
                send, 422, "dry-run-unsupported",
                "cannot run as a dry run: this endpoint does not write through a transaction "
                "the service can roll back", scope,
            )  # fmt: skip
            return
        scope.setdefault("state", {})["dry_run"] = True

        async def confirm(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (HEADER, CONFIRMED)]}
            await send(message)

        token = _active.set(True)
        try:
            await self.app(scope, receive, confirm)
        finally:
            _active.reset(token)

    def _trusted(self, scope: Scope) -> bool:
        client = scope.get("client")
        try:
            peer = ipaddress.ip_address(client[0]) if client else None
        except ValueError:
            return False
        return peer is not None and any(peer in network for network in self.trusted)

    @staticmethod
    def _undoable(scope: Scope) -> bool:
        app = scope.get("app")
        for route in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = route.matches(scope)
            if match == Match.FULL:
                dependant = getattr(route, "dependant", None)
                return dependant is not None and _writes_through_transaction(dependant)
        return True  # no endpoint: a 404/405 problem, which writes nothing

    async def _refuse(self, send: Send, status: int, slug: str, detail: str, scope: Scope) -> None:
        app = scope.get("app")
        base = getattr(getattr(app, "state", None), "problem_type_base", "")
        body = render(
            {
                "type": f"{base}{slug}",
                "title": "Forbidden" if status == 403 else "Unprocessable Content",
                "status": status,
                "detail": detail,
                "instance": scope["path"],
            }
        )
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
