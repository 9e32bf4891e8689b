"""The FastAPI application: legacy-compatible routes, /v2, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from service_kit import openapi
from service_kit import problems as kit_problems
from service_kit.identity import make_verifier
from service_kit.metrics import Metrics, MetricsMiddleware
from service_kit.rendering import render_json
from service_kit.wiring import add_healthz, add_slash_redirect
from shop_telemetry.asgi import TelemetryMiddleware
from starlette.responses import Response

from orders_service.adapters.catalog import CatalogClient
from orders_service.adapters.read_model import OrderReads
from orders_service.bootstrap import checkout_saga, engine_for
from orders_service.entrypoints.http import identity, legacy_api, problems, v2_api
from orders_service.service_layer.errors import ServiceError
from orders_service.settings import Settings

LEGACY_PREFIXES = ("/api/orders", "/api/checkout")
# The fields ServiceError.extra() adds to problem bodies (see service_layer.errors).
PROBLEM_EXTRA_PROPERTIES = {
    "order_id": {"type": "integer"},
    "reason": {"type": "string"},
    "sku": {"type": "string"},
    "available": {"type": "integer"},
}


def create_app(settings: Settings) -> FastAPI:
    engine = engine_for(settings.database_url, pool_size=settings.pool_size)
    metrics = Metrics()
    saga = checkout_saga(settings, engine, metrics.registry)
    catalog = CatalogClient(settings.catalog_url, timeout=settings.catalog_timeout)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await catalog.aclose()
            saga.close()
            engine.dispose()

    app = FastAPI(
        title="orders-service",
        version="1.0.0",
        description="The extracted orders service: checkout as a saga, event-sourced orders, "
        "monolith-compatible /api routes and its own /v2.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.reads = OrderReads(engine)
    app.state.saga = saga
    app.state.catalog = catalog
    app.state.metrics = metrics
    app.state.behind_facade = settings.behind_facade
    app.state.render_json = render_json
    app.state.identity_verifier = make_verifier(settings, challenge=identity.CHALLENGE)
    kit_problems.install(
        app, type_base=settings.problem_type_base, render=render_json, logger=problems.logger
    )
    app.add_exception_handler(ServiceError, problems.on_service_error)
    app.include_router(legacy_api.router)
    app.include_router(v2_api.router)
    add_healthz(app)

    @app.get("/readyz", tags=["ops"], summary="The database answers")
    async def readyz(request: Request) -> Response:
        try:
            await run_in_threadpool(app.state.reads.ping)
        except Exception as exc:  # any failure means not ready
            problem = kit_problems.Problem(
                503, "not-ready", f"database unavailable: {exc.__class__.__name__}"
            )
            return kit_problems.problem_response(request, problem)
        return Response(b'{"status":"ready"}', media_type="application/json")

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def prometheus() -> Response:
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    add_slash_redirect(app, LEGACY_PREFIXES)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost: the request id and the server span cover every other middleware.
    app.add_middleware(TelemetryMiddleware)
    openapi.install(app, _document_operation, extra_properties=PROBLEM_EXTRA_PROPERTIES)
    return app


def _document_operation(path: str, responses: dict[str, Any], operation: dict[str, Any]) -> None:
    for status, text in list(responses.items()):
        if status[0] in "45":
            responses[status] = openapi.problem(text["description"])
    responses["400"] = openapi.problem("Malformed input (problem details)")
    if path != "/api/checkout/":
        responses["401"] = openapi.problem("Not signed in (problem details)")
    if "{" in path or path == "/api/orders/":
        responses["404"] = openapi.problem("No such order or page (problem details)")
