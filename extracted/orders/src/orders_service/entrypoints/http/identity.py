"""Who is asking, for the orders API: the facade's verified identity token.

Verifying the token is ``service_kit.identity``; this module holds the orders API's
policy, which is the monolith's (DRF ``TokenAuthentication`` first): a guest (no token at
all) may check out, so ``OptionalPrincipal`` answers None for one; endpoints that need a
user answer a guest DRF's ``NotAuthenticated`` 401, and every 401 carries
``WWW-Authenticate: Token``. A token with no configured key is a 503; staff endpoints
answer a signed-in non-staff user 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from service_kit.identity import (
    IdentityToken,
    Principal,
    configured_verifier,
    not_authenticated,
    require_staff,
)

__all__ = ["CHALLENGE", "CurrentPrincipal", "OptionalPrincipal", "Principal", "StaffPrincipal"]

CHALLENGE = "Token"  # DRF's TokenAuthentication.authenticate_header


async def optional_principal(request: Request, token: IdentityToken) -> Principal | None:
    """The signed-in user, or None for a guest (no token at all)."""
    if not token:
        return None
    return configured_verifier(request).verify(token)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """A signed-in user; a guest gets DRF's ``NotAuthenticated`` answer (401, ``Token``)."""
    if principal is None:
        raise not_authenticated(CHALLENGE)
    return principal


async def staff_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    return require_staff(principal)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
StaffPrincipal = Annotated[Principal, Depends(staff_principal)]
