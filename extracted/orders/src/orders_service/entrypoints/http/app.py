"""The FastAPI application: legacy-compatible routes, /v2, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from shop_telemetry.asgi import TelemetryMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from orders_service.adapters.catalog import CatalogClient
from orders_service.adapters.read_model import OrderReads
from orders_service.bootstrap import checkout_saga, engine_for
from orders_service.entrypoints.http import legacy_api, problems, v2_api
from orders_service.entrypoints.http.identity import make_verifier
from orders_service.entrypoints.http.metrics import Metrics, MetricsMiddleware
from orders_service.entrypoints.http.rendering import render_json
from orders_service.service_layer.errors import ServiceError
from orders_service.settings import Settings

LEGACY_PREFIXES = ("/api/orders", "/api/checkout")


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
    app.state.problem_type_base = settings.problem_type_base
    app.state.behind_facade = settings.behind_facade
    app.state.render_json = render_json
    app.state.identity_verifier = make_verifier(settings)
    app.add_exception_handler(problems.Problem, problems.on_problem)
    app.add_exception_handler(ServiceError, problems.on_service_error)
    app.add_exception_handler(RequestValidationError, problems.on_validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.on_http_error)
    app.add_exception_handler(Exception, problems.on_unexpected)
    app.include_router(legacy_api.router)
    app.include_router(v2_api.router)

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="The database answers")
    async def readyz(request: Request) -> Response:
        try:
            await run_in_threadpool(app.state.reads.ping)
        except Exception as exc:  # any failure means not ready
            problem = problems.Problem(
                503, "not-ready", f"database unavailable: {exc.__class__.__name__}"
            )
            return problems.problem_response(request, problem)
        return Response(b'{"status":"ready"}', media_type="application/json")

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def prometheus() -> Response:
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")  # only for the slash redirect; cheap and rare
    async def append_slash(request: Request, call_next):  # type: ignore[no-untyped-def]
        path = request.url.path
        if (
            request.method in ("GET", "HEAD")
            and path.startswith(LEGACY_PREFIXES)
            and not path.endswith("/")
        ):
            query = request.scope.get("query_string", b"").decode("latin-1")
            return RedirectResponse(path + "/" + (f"?{query}" if query else ""), status_code=301)
        return await call_next(request)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost: the request id and the server span cover every other middleware.
    app.add_middleware(TelemetryMiddleware)
    app.openapi = lambda: _document_problems(app)  # type: ignore[method-assign]
    return app


PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array"}},
        "order_id": {"type": "integer"},
        "reason": {"type": "string"},
        "sku": {"type": "string"},
        "available": {"type": "integer"},
    },
}


def _problem(description: str) -> dict[str, object]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _document_problems(app: FastAPI) -> dict[str, object]:
    """The OpenAPI document with the problem responses the service really sends."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema["paths"].items():
        if not path.startswith(("/api/", "/v2/")):
            continue
        for operation in operations.values():
            responses = operation["responses"]
            responses.pop("422", None)
            for status, text in list(responses.items()):
                if status[0] in "45":
                    responses[status] = _problem(text["description"])
            responses["400"] = _problem("Malformed input (problem details)")
            if path != "/api/checkout/":
                responses["401"] = _problem("Not signed in (problem details)")
            if "{" in path or path == "/api/orders/":
                responses["404"] = _problem("No such order or page (problem details)")
    schemas = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = schema
    return schema
