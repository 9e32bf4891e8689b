"""Staff-only reads: what the public API hides, for signed-in staff (identity bridge)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import Field
from service_kit.problems import not_found
from starlette.responses import Response

from catalog_service.entrypoints.http.identity import StaffPrincipal
from catalog_service.entrypoints.http.v2_api import JSON, ProductOut, product_out

router = APIRouter(prefix="/v2/staff", tags=["staff"])


def _problem(description: str) -> dict[str, object]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}


AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: _problem("No identity token, or a forged, expired or misaddressed one"),
    403: _problem("The user is not staff"),
    503: _problem("No identity key is configured"),
}


class StaffProductOut(ProductOut):
    legacy_sku: str | None = Field(description="the monolith's spelling, when not canonical")
    legacy_currency: str | None = Field(description="the monolith's spelling, when not canonical")


@router.get(
    "/products/{product_id}",
    response_model=StaffProductOut,
    responses=AUTH_RESPONSES,
    summary="One product in any status (hidden, discontinued), with its legacy spellings",
)
async def staff_product_detail(
    request: Request,
    principal: StaffPrincipal,
    product_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    found = await request.app.state.reads.product(legacy_id=product_id, listed_only=False)
    if found is None:
        raise not_found(f"Product {product_id} not found.")
    product, ref = found
    body = product_out(product, ref)
    body["legacy_sku"] = product.legacy_sku
    body["legacy_currency"] = product.legacy_currency
    return Response(request.app.state.render_json(body), media_type=JSON)
