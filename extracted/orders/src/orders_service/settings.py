"""Configuration from the environment (``ORDERS_*``), validated once at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from service_kit.settings import psycopg_url as psycopg_url
from service_kit.settings import refuse_placeholder_password
from service_kit.settings import sqlalchemy_url as sqlalchemy_url

FAULT_POINTS = ("StockReserved", "StockRejected", "PaymentAuthorised", "PaymentDeclined",
                "OrderConfirmed", "PaymentVoided", "StockReleased", "OrderCancelled")  # fmt: skip


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", populate_by_name=True)

    env: str = "local"  # anything but "local" is treated as production
    database_url: str = "postgresql://postgres@127.0.0.1:5432/orders"
    pool_size: int = Field(default=10, ge=1, le=100)
    problem_type_base: str = "https://shop.example.com/problems/"
    behind_facade: bool = True  # trust X-Forwarded-Host/-Proto for absolute links
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # The saga's participants.
    monolith_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("ORDERS_MONOLITH_URL", "MONOLITH_URL"),
    )
    catalog_url: str = Field(
        default="http://127.0.0.1:8001",
        validation_alias=AliasChoices("ORDERS_CATALOG_URL", "CATALOG_URL"),
    )
    # API composition: how long /v2 waits for the catalog before answering "partial".
    catalog_timeout: float = Field(default=0.5, gt=0, le=10)

    # The identity bridge, exactly as in the catalog service (audience "orders").
    identity_public_key: str | None = None
    identity_public_key_file: Path | None = None
    identity_issuer: str = "strangler-facade"
    identity_audience: str = "orders"
    identity_leeway: int = Field(default=5, ge=0, le=60)

    # The checkout saga: one participant call may take saga_step_timeout seconds, retried
    # with backoff until saga_deadline after the start; a driver holds a saga for
    # saga_lease seconds (renewed before each step), after which saga-worker may take over.
    saga_step_timeout: float = Field(default=10.0, gt=0, le=120)
    saga_deadline: float = Field(default=60.0, gt=0, le=3600)
    saga_lease: float = Field(default=30.0, gt=0, le=3600)
    saga_backoff_base: float = Field(default=0.2, gt=0, le=10)
    saga_worker_interval: float = Field(default=1.0, gt=0, le=60)
    # Crash drills only: the process exits (os._exit(70)) right after the transaction that
    # records this event commits. Never set in production.
    fault_crash_after: str | None = None

    # The worker's /metrics (saga-worker); unset: not served.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator(
        "identity_public_key", "identity_public_key_file", "fault_crash_after",
        "worker_metrics_port", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("fault_crash_after")
    @classmethod
    def _known_fault_point(cls, value: str | None) -> str | None:
        if value is not None and value not in FAULT_POINTS:
            raise ValueError(f"ORDERS_FAULT_CRASH_AFTER must be one of {', '.join(FAULT_POINTS)}")
        return value

    @model_validator(mode="after")
    def _refuse_placeholders_outside_local(self) -> Settings:
        refuse_placeholder_password(self.database_url, env=self.env, env_prefix="ORDERS_")
        if self.env != "local" and self.fault_crash_after is not None:
            raise ValueError("ORDERS_FAULT_CRASH_AFTER is for local crash drills only")
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
