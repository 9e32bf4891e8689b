"""The service's own order API: money objects, domain statuses, aware timestamps, and the
order composed with the catalog's current product data (API composition)."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from service_kit.problems import not_found
from starlette.responses import Response

from orders_service.adapters.catalog import CatalogClient, CatalogUnavailable
from orders_service.adapters.read_model import OrderReads
from orders_service.domain import Money, OrderSnapshot, OrderStatus, PaymentStatus
from orders_service.entrypoints.http.identity import CurrentPrincipal, StaffPrincipal
from orders_service.service_layer.orders import order_change_status

router = APIRouter(prefix="/v2", tags=["v2"])
JSON = "application/json"
logger = logging.getLogger(__name__)


class MoneyOut(BaseModel):
    amount_minor: int
    currency: str = Field(description="ISO 4217")
    amount: str = Field(description="decimal string, e.g. '12.50'")


class CurrentProductOut(BaseModel):
    sku: str
    name: str
    price: MoneyOut
    status: str
    in_stock: bool


class LineOut(BaseModel):
    product_id: int
    sku: str = Field(description="as recorded at checkout")
    name: str = Field(description="as recorded at checkout")
    unit_price: MoneyOut
    quantity: int
    line_total: MoneyOut
    product: CurrentProductOut | None = Field(
        description="the catalog's current data; null when not listed or not fetched"
    )


class PaymentOut(BaseModel):
    id: int
    amount: MoneyOut
    status: PaymentStatus
    gateway_ref: str
    card_last4: str
    decline_code: str
    created_at: datetime


class ShippingOut(BaseModel):
    name: str
    line1: str
    line2: str
    city: str
    zip: str
    country: str


class OrderOut(BaseModel):
    id: int
    status: OrderStatus
    user_id: int | None
    email: str
    total: MoneyOut
    shipping: ShippingOut
    lines: list[LineOut]
    payments: list[PaymentOut]
    created_at: datetime
    updated_at: datetime
    partial: bool = Field(description="true: the catalog did not answer; lines as recorded")


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: int | None = Field(description="pass as ?before= for the next page")
    partial: bool


class StatusIn(BaseModel):
    status: Literal["shipped", "delivered"]


def money(amount_minor: int, currency: str) -> dict[str, Any]:
    value = Money(amount_minor, currency)
    step = Decimal(1).scaleb(-value.exponent)
    amount = f"{value.to_decimal().quantize(step):f}"
    return {"amount_minor": amount_minor, "currency": currency, "amount": amount}


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _current(product: dict[str, Any] | None) -> dict[str, Any] | None:
    if product is None:
        return None
    return {"sku": product.get("sku"), "name": product.get("name"),
            "price": product.get("price"), "status": product.get("status"),
            "in_stock": product.get("in_stock")}  # fmt: skip


def order_out(order: OrderSnapshot, products: dict[int, dict[str, Any] | None] | None
              ) -> dict[str, Any]:  # fmt: skip
    cur = order.currency
    return {
        "id": order.order_id, "status": str(order.status), "user_id": order.user_id,
        "email": order.email, "total": money(order.total_minor, cur),
        "shipping": {"name": order.shipping.name, "line1": order.shipping.line1,
                     "line2": order.shipping.line2, "city": order.shipping.city,
                     "zip": order.shipping.zip, "country": order.shipping.country},
        "lines": [
            {"product_id": ln.product_id, "sku": ln.sku, "name": ln.name,
             "unit_price": money(ln.unit_price_minor, cur), "quantity": ln.quantity,
             "line_total": money(ln.total_minor, cur),
             "product": None if products is None else _current(products.get(ln.product_id))}
            for ln in order.lines
        ],
        "payments": [
            {"id": p.payment_id, "amount": money(p.amount_minor, cur), "status": str(p.status),
             "gateway_ref": p.gateway_ref, "card_last4": p.card_last4,
             "decline_code": p.decline_code, "created_at": _iso(p.created_at)}
            for p in order.payments
        ],
        "created_at": _iso(order.created_at), "updated_at": _iso(order.updated_at),
        "partial": products is None,
    }  # fmt: skip


async def compose(request: Request, orders: list[OrderSnapshot]
                  ) -> dict[int, dict[str, Any] | None] | None:  # fmt: skip
    """The catalog's current data for every product in ``orders``; None if it did not answer."""
    catalog: CatalogClient = request.app.state.catalog
    ids = {line.product_id for order in orders for line in order.lines}
    if not ids:
        return {}
    try:
        return await catalog.products(ids)
    except CatalogUnavailable as exc:
        logger.warning("catalog unavailable for composition: %s", exc)
        return None


def _reads(request: Request) -> OrderReads:
    reads: OrderReads = request.app.state.reads
    return reads


async def _visible_order(request: Request, order_id: int, user_id: int,
                         staff: bool) -> OrderSnapshot:  # fmt: skip
    order = await run_in_threadpool(_reads(request).get, order_id)
    if order is None or not (staff or order.user_id == user_id):
        raise not_found(f"Order {order_id} not found.")
    return order


@router.get("/orders", response_model=OrderPage, summary="Own orders, newest first")
async def list_orders(
    request: Request, principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[int | None, Query(ge=1, description="an order id (next_cursor)")] = None,
) -> Response:  # fmt: skip
    orders = await run_in_threadpool(_own_page, _reads(request), principal.user_id, limit, before)
    products = await compose(request, orders[:limit])
    body = {
        "items": [order_out(o, products) for o in orders[:limit]],
        "next_cursor": orders[limit - 1].order_id if len(orders) > limit else None,
        "partial": products is None,
    }
    return Response(request.app.state.render_json(body), media_type=JSON)


def _own_page(reads: OrderReads, user_id: int, limit: int, before: int | None
              ) -> list[OrderSnapshot]:  # fmt: skip
    # The read model pages by offset; the cursor is an id, so skip what is not older.
    result: list[OrderSnapshot] = []
    offset = 0
    while len(result) <= limit:
        batch = reads.page(user_id=user_id, limit=100, offset=offset)
        if not batch:
            break
        result.extend(o for o in batch if before is None or o.order_id < before)
        offset += len(batch)
    return result[: limit + 1]


@router.get("/orders/{order_id}", response_model=OrderOut,
            summary="One order composed with the catalog's current product data")  # fmt: skip
async def order_detail(request: Request, principal: CurrentPrincipal,
                       order_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Response:  # fmt: skip
    order = await _visible_order(request, order_id, principal.user_id, principal.is_staff)
    products = await compose(request, [order])
    return Response(request.app.state.render_json(order_out(order, products)), media_type=JSON)


@router.post("/orders/{order_id}/status", response_model=OrderOut,
             summary="Staff: mark a paid order shipped, a shipped one delivered")  # fmt: skip
async def change_status(
    request: Request,
    principal: StaffPrincipal,
    change: StatusIn,
    order_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> Response:
    order = await run_in_threadpool(
        lambda: order_change_status(request.app.state.engine, order_id=order_id,
                                    status=change.status, actor=f"user:{principal.user_id}")
    )  # fmt: skip
    products = await compose(request, [order])
    return Response(request.app.state.render_json(order_out(order, products)), media_type=JSON)
