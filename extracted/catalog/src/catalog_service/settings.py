"""Configuration from the environment (``CATALOG_*``), validated once at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from acl.catalog.quirks import AttrsPolicy
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from service_kit.settings import psycopg_url as psycopg_url
from service_kit.settings import refuse_placeholder_password
from service_kit.settings import sqlalchemy_url as sqlalchemy_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    env: str = "local"  # anything but "local" is treated as production
    database_url: str = "postgresql://postgres@127.0.0.1:5432/catalog"
    pool_min_size: int = 2
    pool_max_size: int = 20
    problem_type_base: str = "https://shop.example.com/problems/"
    attrs_policy: AttrsPolicy = AttrsPolicy.LEGACY
    # Like the monolith's BEHIND_FACADE: trust X-Forwarded-Host/-Proto for absolute links.
    behind_facade: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Socket addresses (never X-Forwarded-For) allowed to ask for a dry run: the facade's.
    dry_run_trusted_networks: str = "127.0.0.0/8,::1/128"
    # The identity bridge: the public half of the facade's signing key (PEM, or a file),
    # the issuer and audience tokens must name, and the clock skew allowed on exp/iat.
    # Unset key: endpoints that need a user answer 503.
    identity_public_key: str | None = None
    identity_public_key_file: Path | None = None
    identity_issuer: str = "strangler-facade"
    identity_audience: str = "catalog"
    identity_leeway: int = Field(default=5, ge=0, le=60)

    # --- the sync consumer (Celery) -----------------------------------------------------
    # Broker: CATALOG_BROKER_URL, else REDIS_URL (the stack's Redis); amqp:// works too.
    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("CATALOG_BROKER_URL", "REDIS_URL"),
    )
    sync_queue: str = "catalog.events"  # the relay routes catalog events here (bulkhead)
    sync_lanes: int = 1  # lane queues catalog.events.0..N-1, one worker each
    sync_max_attempts: int = 5  # in-worker tries before the aggregate is parked
    # Events a worker applies per transaction under load (outbox.batching); 1: one task
    # per event, as a plain Celery worker runs them. Run batching workers with -P solo.
    sync_batch: int = Field(default=100, ge=1, le=1000)
    sync_flush_interval: float = Field(default=0.01, gt=0, le=1)  # wait for a batch to fill
    sync_backoff_base: float = 0.2
    # Redis: an unacknowledged message of a dead worker comes back after this long. Must
    # exceed the longest task incl. its in-worker retries (5 tries: ~3 s of backoff).
    sync_visibility_timeout: float = 60.0
    # Record every applied event in sync_applied_events (tests, audits); off by default.
    sync_audit: bool = False
    # The worker's /metrics (events by consumer and outcome); unset: not served. One port
    # per worker process (each lane's worker needs its own).
    sync_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator(
        "sync_metrics_port", "identity_public_key", "identity_public_key_file", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # .env.example lists it empty

    @model_validator(mode="after")
    def _refuse_placeholders_outside_local(self) -> Settings:
        refuse_placeholder_password(self.database_url, env=self.env, env_prefix="CATALOG_")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.database_url)

    @property
    def psycopg_url(self) -> str:
        return psycopg_url(self.database_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
