"""Who is asking: the facade's signed identity token, verified, as a typed principal.

The facade resolves the legacy session or API token with the monolith and forwards
``X-Strangler-Identity: <JWT>`` (EdDSA or ES256), addressed to this service (``aud``),
valid for about a minute. Only the public key lives here: the service can check a token,
never mint one. The facade strips any copy of the header a client sends.

``CurrentPrincipal`` (any signed-in user) and ``StaffPrincipal`` (staff only) are the
dependencies handlers declare: a missing, forged, expired or misaddressed token is a 401
problem, a signed-in user who is not staff gets a 403 on staff endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from orders_service.entrypoints.http.problems import Problem
from orders_service.settings import Settings

HEADER = "X-Strangler-Identity"
_REQUIRED = ["sub", "iat", "exp", "iss", "aud"]

_scheme = APIKeyHeader(
    name=HEADER,
    scheme_name="StranglerIdentity",
    description="Short-lived JWT the facade signs for the signed-in user (EdDSA or ES256).",
    auto_error=False,
)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    is_staff: bool
    scopes: frozenset[str]


def _unauthenticated(detail: str) -> Problem:
    return Problem(401, "authentication-failed", detail, headers={"WWW-Authenticate": "Token"})


class TokenVerifier:
    def __init__(self, public_key_pem: bytes, *, issuer: str, audience: str, leeway: int) -> None:
        key = load_pem_public_key(public_key_pem)
        if isinstance(key, ed25519.Ed25519PublicKey):
            self.algorithm = "EdDSA"
        elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
            self.algorithm = "ES256"
        else:
            raise ValueError("the identity key must be an Ed25519 or P-256 (ES256) public key")
        self._key = key
        self.issuer, self.audience, self.leeway = issuer, audience, leeway

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],  # never the token's own choice
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("The identity token has expired.") from None
        except jwt.InvalidAudienceError:
            raise _unauthenticated("The identity token is addressed to another service.") from None
        except jwt.InvalidTokenError:
            raise _unauthenticated("The identity token is not valid.") from None
        try:
            scopes = claims.get("scopes", [])
            if not isinstance(scopes, list):
                raise TypeError
            return Principal(
                user_id=int(claims["sub"]),
                is_staff=claims.get("staff") is True,
                scopes=frozenset(str(s) for s in scopes),
            )
        except (TypeError, ValueError):
            raise _unauthenticated("The identity token is not valid.") from None


def make_verifier(settings: Settings) -> TokenVerifier | None:
    pem: bytes | None = None
    if settings.identity_public_key:
        pem = settings.identity_public_key.encode()
    elif settings.identity_public_key_file is not None:
        pem = Path(settings.identity_public_key_file).read_bytes()
    if pem is None:
        return None
    return TokenVerifier(
        pem,
        issuer=settings.identity_issuer,
        audience=settings.identity_audience,
        leeway=settings.identity_leeway,
    )


async def optional_principal(
    request: Request, token: Annotated[str | None, Depends(_scheme)]
) -> Principal | None:
    """The signed-in user, or None for a guest (no token at all)."""
    if not token:
        return None
    verifier: TokenVerifier | None = request.app.state.identity_verifier
    if verifier is None:
        raise Problem(503, "identity-unavailable", "No identity key is configured.")
    return verifier.verify(token)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """A signed-in user; a guest gets DRF's ``NotAuthenticated`` answer (401, ``Token``)."""
    if principal is None:
        raise Problem(
            401, "not-authenticated", "Authentication credentials were not provided.",
            headers={"WWW-Authenticate": "Token"},
        )  # fmt: skip
    return principal


async def staff_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_staff:
        raise Problem(403, "forbidden", "You do not have permission to perform this action.")
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
StaffPrincipal = Annotated[Principal, Depends(staff_principal)]
