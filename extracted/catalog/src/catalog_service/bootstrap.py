"""Composition root: settings -> engine, unit of work, HTTP app."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI
from sqlalchemy import Engine, create_engine

from catalog_service.service_layer.unit_of_work import SqlAlchemyUnitOfWork
from catalog_service.settings import Settings, get_settings, sqlalchemy_url


def engine_for(url: str, *, pool_size: int = 5) -> Engine:
    return create_engine(sqlalchemy_url(url), pool_size=pool_size, pool_pre_ping=True)


def uow_factory(engine: Engine) -> partial[SqlAlchemyUnitOfWork]:
    """What the Celery consumer calls per event: ``uow_factory(engine)()``."""
    return partial(SqlAlchemyUnitOfWork, engine)


def http_app(settings: Settings | None = None) -> FastAPI:
    from catalog_service.entrypoints.http.app import create_app

    return create_app(settings or get_settings())


def asgi() -> FastAPI:
    """``uvicorn --factory catalog_service.bootstrap:asgi``: the served process, so tracing
    starts here (in each uvicorn worker), not in ``http_app`` that tests call."""
    from shop_telemetry import configure_tracing

    configure_tracing("catalog")
    return http_app()
