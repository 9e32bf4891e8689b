"""Composition root: settings -> engine, participants, the saga, the HTTP app, the worker."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, create_engine

from orders_service.adapters.gateway import SimulatedGateway
from orders_service.adapters.monolith import MonolithParticipant
from orders_service.service_layer.metrics import SagaMetrics
from orders_service.service_layer.saga import CheckoutSaga, SagaWorker
from orders_service.settings import Settings, get_settings, sqlalchemy_url


def engine_for(url: str, *, pool_size: int = 5) -> Engine:
    return create_engine(sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size,
                         pool_pre_ping=True)  # fmt: skip


def checkout_saga(settings: Settings, engine: Engine,
                  registry: CollectorRegistry | None = None) -> CheckoutSaga:  # fmt: skip
    participant = MonolithParticipant(settings.monolith_url, timeout=settings.saga_step_timeout)
    return CheckoutSaga(engine, participant, SimulatedGateway(engine), settings,
                        SagaMetrics(registry))  # fmt: skip


def saga_worker(settings: Settings, engine: Engine, name: str | None = None,
                registry: CollectorRegistry | None = None) -> SagaWorker:  # fmt: skip
    return SagaWorker(checkout_saga(settings, engine, registry), engine, settings, name)


def http_app(settings: Settings | None = None) -> FastAPI:
    from orders_service.entrypoints.http.app import create_app

    return create_app(settings or get_settings())


def asgi() -> FastAPI:
    """``uvicorn --factory orders_service.bootstrap:asgi``: the served process, so tracing
    starts here (in each uvicorn worker), not in ``http_app`` that tests call."""
    from shop_telemetry import configure_tracing

    configure_tracing("orders")
    return http_app()
