"""Process settings, read from the environment (prefix ``FACADE_``, plus ``REDIS_URL``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class FacadeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACADE_", extra="ignore")

    routes_file: Path | None = None
    """YAML routes file; without it a built-in table sends everything to ``MONOLITH_URL``."""
    admin_token: SecretStr | None = None
    """Bearer token of the admin API; unset means the admin API answers 503 to everyone."""
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("FACADE_REDIS_URL", "REDIS_URL")
    )
    redis_prefix: str = "strangler:facade"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    public_origin: str | None = None
    """``https://shop.example.com``: used for Location rewriting instead of the Host header."""
    trust_forwarded_headers: bool = False
    """Append to incoming X-Forwarded-* (another proxy in front) instead of overwriting them."""
    reload_interval: float = Field(default=1.0, gt=0)
    sync_interval: float = Field(default=0.5, gt=0)
    ramp_interval: float = Field(default=0.25, gt=0)
    """How often ramping canary routes are judged (a roll-back takes at most this long)."""
    health_interval: float = Field(default=5.0, gt=0)
    dns_refresh_interval: float = Field(default=30.0, gt=0)
    audit_log_file: Path | None = None
    audit_memory_entries: int = Field(default=1000, ge=1)
    access_log: bool = True
    http_client: Literal["native", "aiohttp"] = "native"
    """Hot-path HTTP client; ``native`` (asyncio + httptools) won the benchmark."""
    shadow_queue_size: int = Field(default=1000, ge=1)
    shadow_workers: int = Field(default=4, ge=1)
    shadow_max_body_bytes: int = Field(default=1024 * 1024, ge=0)
    shadow_timeout: float = Field(default=5.0, gt=0)
    parity_recent: int = Field(default=50, ge=1)
    """Mismatch samples (with their diffs) kept per route."""
    parity_top_fields: int = Field(default=20, ge=1)
    """Most mismatching fields listed per route by the admin API."""
    parity_window_seconds: int = Field(default=3600, ge=60)
    """How far back ``ParityStore.window`` can look (per-second buckets)."""
    max_idle_connections: int = Field(default=256, ge=0)
    """Idle keep-alive connections kept per upstream instance."""
    record_file: Path | None = None
    """JSON-lines file sampled requests are appended to (facade.recorder)."""
    record_sample: float = Field(default=0.0, ge=0, le=1)
    """Share of requests recorded; 0 (the default) records nothing."""
    record_methods: str = "GET,HEAD"
    """Comma-separated methods that may be recorded (a replay sends each one twice)."""

    # The identity bridge (facade.identity): unset key, no identity tokens are sent.
    identity_private_key: SecretStr | None = None
    """PEM of the Ed25519 or P-256 key identity tokens are signed with (wins over the file)."""
    identity_private_key_file: Path | None = None
    identity_url: str | None = None
    """The monolith's identity endpoint; unset: ``${MONOLITH_URL}/_internal/identity``."""
    identity_issuer: str = "strangler-facade"
    identity_token_ttl: int = Field(default=60, ge=5, le=3600)
    """Seconds an identity token is valid (``exp - iat``)."""
    identity_cache_ttl: float = Field(default=30.0, ge=0)
    """Seconds a resolved identity is kept; logouts the monolith announces drop it at once."""
    identity_cache_size: int = Field(default=10000, ge=1)
    identity_session_cookie: str = "sessionid"
    identity_csrf_cookie: str = "csrftoken"
    """The monolith's CSRF cookie, passed along when a cookie-authenticated write is checked."""
    identity_timeout: float = Field(default=2.0, gt=0)

    @field_validator(
        "identity_private_key", "identity_private_key_file", "identity_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # .env.example lists them empty
