"""Catalog writes (step 4): ``POST /v2/products``, ``PATCH /v2/products/{id}``.

The use cases are ``service_layer.writes`` (one transaction: the row and the outbox event
for the monolith). These endpoints are plain ``def``: the writer is the outbox library's
synchronous DB-API one, so they run in the thread pool on a synchronous engine of their
own. They do not take part in the facade's dry runs (the middleware answers 422 for them):
they do not write through ``WriteTransaction``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from service_kit.problems import Problem
from sqlalchemy import Engine, create_engine
from starlette.responses import Response

from catalog_service.adapters.tables import categories
from catalog_service.domain import CategoryRef, Product
from catalog_service.entrypoints.http.identity import staff_principal
from catalog_service.entrypoints.http.v2_api import JSON, ProductOut, product_out
from catalog_service.service_layer import writes
from catalog_service.settings import Settings, sqlalchemy_url

# Staff only: the facade forwards the caller's identity as a signed token (identity.py).
router = APIRouter(prefix="/v2", tags=["v2 writes"], dependencies=[Depends(staff_principal)])


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceIn(_Input):
    amount: str = Field(max_length=32, description="decimal string, e.g. '12.50'")
    currency: str = Field(default="EUR", min_length=3, max_length=3, description="ISO 4217")


class AttributeIn(_Input):
    key: str = Field(min_length=1, max_length=100)
    value: str = Field(max_length=500)


class ProductCreate(_Input):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=400)
    price: PriceIn
    description: str | None = Field(default=None, max_length=20_000)
    status: str = "active"
    attributes: list[AttributeIn] = Field(default_factory=list, max_length=100)
    category_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    weight_grams: int | None = Field(default=None, ge=0, le=2**31 - 1)


class ProductPatch(_Input):
    """Only the fields given change; ``null`` clears description and category."""

    name: str | None = Field(default=None, max_length=400)
    description: str | None = Field(default=None, max_length=20_000)
    price: PriceIn | None = None
    status: str | None = None
    attributes: list[AttributeIn] | None = Field(default=None, max_length=100)
    category_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the write routes; their engine is created on the first write."""
    app.state.write_database_url = settings.database_url
    app.state.write_engine = None
    app.include_router(router)


def _engine(request: Request) -> Engine:
    state = request.app.state
    if state.write_engine is None:
        state.write_engine = create_engine(
            sqlalchemy_url(state.write_database_url), pool_size=5, pool_pre_ping=True
        )
    engine: Engine = state.write_engine
    return engine


def _problem(exc: writes.WriteError) -> Problem:
    match exc:
        case writes.CatalogWritesFrozen():
            return Problem(423, "catalog-writes-frozen", exc.detail, title="Catalog writes frozen")
        case writes.ProductNotFound():
            return Problem(404, "not-found", exc.detail, title="Not found")
        case writes.SkuTaken():
            title = "A product with this SKU already exists"
            return Problem(409, "duplicate-sku", exc.detail, title=title, errors=exc.errors)
    return Problem(400, "validation-error", exc.detail, title="Invalid input", errors=exc.errors)


def _trace(request: Request) -> dict[str, str | None]:
    return {
        "causation_id": request.headers.get("x-request-id"),
        "traceparent": request.headers.get("traceparent"),
    }


def _answer(request: Request, engine: Engine, product: Product, status: int) -> Response:
    ref = None
    if product.category_legacy_id is not None:
        with engine.connect() as conn:
            row = conn.execute(
                categories.select().where(categories.c.legacy_id == product.category_legacy_id)
            ).first()
        if row is not None:
            ref = CategoryRef(legacy_id=row.legacy_id, slug=row.slug, name=row.name)
    body = request.app.state.render_json(product_out(product, ref))
    headers = {"Location": f"/v2/products/{product.legacy_id}"} if status == 201 else None
    return Response(body, status_code=status, media_type=JSON, headers=headers)


@router.post(
    "/products",
    response_model=ProductOut,
    status_code=201,
    summary="Create a product (the service owns catalog writes from step 4)",
    responses={
        401: {"description": "No valid identity token"},
        403: {"description": "Not staff"},
        409: {"description": "SKU taken"},
        423: {"description": "Writes frozen"},
    },
)
def create_product(request: Request, body: ProductCreate) -> Response:
    engine = _engine(request)
    try:
        with engine.begin() as conn:
            product = writes.create_product(
                conn,
                sku=body.sku,
                name=body.name,
                price=(body.price.amount, body.price.currency),
                description=body.description,
                status=body.status,
                attributes=[(a.key, a.value) for a in body.attributes],
                category_id=body.category_id,
                weight_grams=body.weight_grams,
                **_trace(request),
            )
    except writes.WriteError as exc:
        raise _problem(exc) from None
    return _answer(request, engine, product, 201)


@router.patch(
    "/products/{product_id}",
    response_model=ProductOut,
    summary="Change a product's name, description, price, status, attributes or category",
    responses={
        401: {"description": "No valid identity token"},
        403: {"description": "Not staff"},
        423: {"description": "Writes frozen"},
    },
)
def update_product(
    request: Request,
    product_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: ProductPatch,
) -> Response:
    given: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "price":
            value = (value.amount, value.currency) if value is not None else None
        elif name == "attributes" and value is not None:
            value = [(a.key, a.value) for a in value]
        if value is None and name in ("name", "price", "status", "attributes"):
            raise Problem(400, "validation-error", "Some fields are invalid.",
                          errors={name: ["This field may not be null."]})  # fmt: skip
        given[name] = value
    engine = _engine(request)
    try:
        with engine.begin() as conn:
            product = writes.update_product(
                conn, product_id, writes.ProductChanges(**given), **_trace(request)
            )
    except writes.WriteError as exc:
        raise _problem(exc) from None
    return _answer(request, engine, product, 200)
