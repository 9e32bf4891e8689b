"""Settings fragments every service shares: database URL spellings, the placeholder guard.

Each service keeps its own ``Settings`` (its env prefix, its fields); these are the
checks and conversions that must behave the same in all of them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

PLACEHOLDER_SECRETS = {"change-me", "changeme", "password", "postgres", "secret"}
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


def refuse_placeholder_password(database_url: str, *, env: str, env_prefix: str) -> None:
    """Outside ``env == "local"``, a well-known password in the database URL is an error."""
    password = urlsplit(database_url).password
    if env != "local" and password is not None and password in PLACEHOLDER_SECRETS:
        raise ValueError(
            f"{env_prefix}DATABASE_URL has a placeholder password; {env_prefix}ENV={env!r} "
            "is not local"
        )


def sqlalchemy_url(url: str) -> str:
    """Any PostgreSQL URL -> the ``postgresql+psycopg://`` (psycopg 3) driver URL."""
    scheme, sep, rest = url.partition("://")
    if scheme not in _POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql+psycopg{sep}{rest}"


def psycopg_url(url: str) -> str:
    """Any PostgreSQL URL -> the libpq form psycopg wants."""
    scheme, sep, rest = url.partition("://")
    if scheme not in _POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql{sep}{rest}"
