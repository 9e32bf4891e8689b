"""Who is asking, for the catalog's staff endpoints: the facade's verified identity token.

Verifying the token is ``service_kit.identity``; this module holds the catalog's policy.
Every catalog endpoint that wants a user wants staff, so there are no guests: without a
configured key the answer is a 503 before the token is even looked at, a missing, forged,
expired or misaddressed token is a 401 problem with no ``WWW-Authenticate`` header, and a
signed-in user who is not staff gets a 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from service_kit.identity import (
    IdentityToken,
    Principal,
    TokenVerifier,
    configured_verifier,
    not_authenticated,
    require_staff,
)

__all__ = ["CHALLENGE", "CurrentPrincipal", "Principal", "StaffPrincipal", "TokenVerifier"]

CHALLENGE: str | None = None  # catalog 401s name no authentication scheme


async def current_principal(request: Request, token: IdentityToken) -> Principal:
    verifier = configured_verifier(request)
    if not token:
        raise not_authenticated(CHALLENGE)
    return verifier.verify(token)


async def staff_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    return require_staff(principal)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
StaffPrincipal = Annotated[Principal, Depends(staff_principal)]
