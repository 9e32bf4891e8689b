"""Who is asking: the facade's signed identity token, verified, as a typed principal.

The facade resolves the legacy session or API token with the monolith and forwards
``X-Strangler-Identity: <JWT>`` (EdDSA or ES256), addressed to one service (``aud``),
valid for about a minute. Only the public key lives in a service: it can check a token,
never mint one. The facade strips any copy of the header a client sends.

Checking a token is the same for every service, so it lives here. Each service keeps its
own dependencies (``CurrentPrincipal`` and friends) because who may stay a guest, and
which challenge a 401 carries, is its API's contract, not this package's; they are built
from ``identity_token``, ``configured_verifier``, ``not_authenticated`` and
``require_staff``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from service_kit.problems import Problem

HEADER = "X-Strangler-Identity"
_REQUIRED = ["sub", "iat", "exp", "iss", "aud"]

_scheme = APIKeyHeader(
    name=HEADER,
    scheme_name="StranglerIdentity",
    description="Short-lived JWT the facade signs for the signed-in user (EdDSA or ES256).",
    auto_error=False,
)

# The raw header value; empty or missing means a guest. Declared through the one scheme
# above so every service documents the same ``StranglerIdentity`` security scheme.
IdentityToken = Annotated[str | None, Depends(_scheme)]


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    is_staff: bool
    scopes: frozenset[str]


class IdentitySettings(Protocol):
    """The ``identity_*`` fields of a service's settings."""

    @property
    def identity_public_key(self) -> str | None: ...
    @property
    def identity_public_key_file(self) -> Path | None: ...
    @property
    def identity_issuer(self) -> str: ...
    @property
    def identity_audience(self) -> str: ...
    @property
    def identity_leeway(self) -> int: ...


def _challenge_headers(challenge: str | None) -> dict[str, str] | None:
    return None if challenge is None else {"WWW-Authenticate": challenge}


def not_authenticated(challenge: str | None) -> Problem:
    """No token at all: DRF's ``NotAuthenticated`` answer, with the service's challenge."""
    return Problem(
        401, "not-authenticated", "Authentication credentials were not provided.",
        headers=_challenge_headers(challenge),
    )  # fmt: skip


class TokenVerifier:
    """Checks tokens against one public key; ``challenge`` is the 401s' ``WWW-Authenticate``."""

    def __init__(
        self, public_key_pem: bytes, *, issuer: str, audience: str, leeway: int,
        challenge: str | None = None,
    ) -> None:  # fmt: skip
        key = load_pem_public_key(public_key_pem)
        if isinstance(key, ed25519.Ed25519PublicKey):
            self.algorithm = "EdDSA"
        elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
            self.algorithm = "ES256"
        else:
            raise ValueError("the identity key must be an Ed25519 or P-256 (ES256) public key")
        self._key = key
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.challenge = challenge

    def _unauthenticated(self, detail: str) -> Problem:
        return Problem(
            401, "authentication-failed", detail, headers=_challenge_headers(self.challenge)
        )

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
            raise self._unauthenticated("The identity token has expired.") from None
        except jwt.InvalidAudienceError:
            raise self._unauthenticated(
                "The identity token is addressed to another service."
            ) from None
        except jwt.InvalidTokenError:
            raise self._unauthenticated("The identity token is not valid.") from None
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
            raise self._unauthenticated("The identity token is not valid.") from None


def make_verifier(
    settings: IdentitySettings, *, challenge: str | None = None
) -> TokenVerifier | None:
    """The verifier for the configured key (inline PEM first, then a file); None if unset."""
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
        challenge=challenge,
    )


def configured_verifier(request: Request) -> TokenVerifier:
    """The app's verifier (``app.state.identity_verifier``); a 503 problem if no key is set."""
    verifier: TokenVerifier | None = request.app.state.identity_verifier
    if verifier is None:
        raise Problem(503, "identity-unavailable", "No identity key is configured.")
    return verifier


def require_staff(principal: Principal) -> Principal:
    if not principal.is_staff:
        raise Problem(403, "forbidden", "You do not have permission to perform this action.")
    return principal
