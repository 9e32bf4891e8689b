"""The FastAPI application: legacy-compatible routes, /v2, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from acl.catalog.legacy_json import render
from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool
from service_kit import openapi, problems
from service_kit.identity import make_verifier
from service_kit.metrics import Metrics, MetricsMiddleware
from service_kit.rendering import render_json
from service_kit.wiring import add_healthz, add_slash_redirect
from shop_telemetry.asgi import TelemetryMiddleware
from starlette.responses import Response

from catalog_service.adapters.read_model import CatalogReads
from catalog_service.entrypoints.http import identity, legacy_api, staff_api, v2_api
from catalog_service.entrypoints.http.dry_run import DryRunMiddleware, parse_networks
from catalog_service.entrypoints.http.problems import logger as problems_logger
from catalog_service.entrypoints.http.write_api import install as install_writes
from catalog_service.settings import Settings

LEGACY_PREFIXES = ("/api/products", "/api/categories")


def create_app(settings: Settings) -> FastAPI:
    pool = AsyncConnectionPool(
        settings.psycopg_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        open=False,
        kwargs={"prepare_threshold": 0},  # prepared server-side after the first execution
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=False)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="catalog-service",
        version="1.0.0",
        description="The extracted catalog: monolith-compatible /api routes and its own /v2.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    metrics = Metrics()
    app.state.reads = CatalogReads(pool)
    app.state.pool = pool
    app.state.metrics = metrics
    app.state.behind_facade = settings.behind_facade
    app.state.render_json = render_json
    app.state.identity_verifier = make_verifier(settings, challenge=identity.CHALLENGE)
    # Problem bodies go through the reference renderer (DRF's JSONRenderer, byte for byte).
    problems.install(
        app, type_base=settings.problem_type_base, render=render, logger=problems_logger
    )
    app.include_router(legacy_api.router)
    app.include_router(v2_api.router)
    install_writes(app, settings)
    app.include_router(staff_api.router)
    add_healthz(app)

    @app.get("/readyz", tags=["ops"], summary="The database answers")
    async def readyz(request: Request) -> Response:
        try:
            await app.state.reads.ping()
        except Exception as exc:  # any failure means not ready
            problem = problems.Problem(
                503, "not-ready", f"database unavailable: {exc.__class__.__name__}"
            )
            return problems.problem_response(request, problem)
        return Response(b'{"status":"ready"}', media_type="application/json")

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=True)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    add_slash_redirect(app, LEGACY_PREFIXES)
    app.add_middleware(
        DryRunMiddleware, trusted_networks=parse_networks(settings.dry_run_trusted_networks)
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost: the request id and the server span cover every other middleware.
    app.add_middleware(TelemetryMiddleware)
    openapi.install(app, _document_operation)
    return app


def _document_operation(path: str, responses: dict[str, Any], operation: dict[str, Any]) -> None:
    """Validation errors are 400 problem details (the legacy API's status), not FastAPI's
    default 422; unknown ids, slugs and pages are 404 problems."""
    if operation.get("parameters"):
        responses["400"] = openapi.problem("Malformed parameters (problem details)")
    if "{" in path or path in ("/api/products/", "/v2/products"):
        responses["404"] = openapi.problem("No such resource or page (problem details)")
