"""A typed, synchronous client for the shop's public JSON API.

One ``httpx.Client`` per ``ShopClient`` (keep-alive, cookies for guest carts and
sessions). Pass ``transport=`` to run against an in-process ASGI/WSGI app or a
``MockTransport`` in tests. Every answer is validated into the models in
``shop_client.models``: a provider that breaks the wire shape fails loudly here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from shop_client.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    Locked,
    NotAuthenticated,
    NotFound,
    PaymentDeclined,
    ShopAPIError,
    UnexpectedResponse,
)
from shop_client.models import (
    Cart,
    Category,
    CategoryDetail,
    CheckoutRequest,
    Me,
    Order,
    OrderPage,
    Problem,
    Product,
    ProductCreate,
    ProductPage,
    ProductPatch,
    V2Product,
)

M = TypeVar("M", bound=BaseModel)
_CATEGORIES = TypeAdapter(list[Category])
_ERRORS: dict[int, type[ShopAPIError]] = {
    400: InvalidInput,
    401: NotAuthenticated,
    402: PaymentDeclined,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    423: Locked,
}


class ShopClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Token {token}"
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=all_headers, timeout=timeout, transport=transport
        )

    # -- lifecycle
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ShopClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- catalog
    def list_products(
        self,
        *,
        category: str | None = None,
        search: str | None = None,
        ordering: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> ProductPage:
        params = {
            k: v
            for k, v in {
                "category": category,
                "search": search,
                "ordering": ordering,
                "page": page,
                "page_size": page_size,
            }.items()
            if v is not None
        }
        return self._get(ProductPage, "/api/products/", params=params)

    def get_product(self, product_id: int) -> Product:
        return self._get(Product, f"/api/products/{int(product_id)}/")

    def get_product_by_sku(self, sku: str) -> Product:
        return self._get(Product, f"/api/products/sku/{quote(sku, safe='')}/")

    def list_categories(self) -> list[Category]:
        data = self._json("GET", "/api/categories/")
        return _validate_list(data)

    def get_category(self, slug: str) -> CategoryDetail:
        return self._get(CategoryDetail, f"/api/categories/{quote(slug, safe='')}/")

    # -- catalog writes (staff; the catalog service's own API behind the facade)
    def create_product(self, product: ProductCreate) -> V2Product:
        data = self._json("POST", "/v2/products", json=product.model_dump(mode="json"))
        return _model(V2Product, data)

    def update_product(self, product_id: int, changes: ProductPatch) -> V2Product:
        # Only the fields the caller set travel (an absent field stays, an explicit null
        # clears), each in full: ``exclude_unset`` would also drop a price's default currency.
        body = changes.model_dump(mode="json", include=set(changes.model_fields_set))
        return _model(V2Product, self._json("PATCH", f"/v2/products/{int(product_id)}", json=body))

    # -- cart (guest carts live in the session cookie this client keeps)
    def get_cart(self) -> Cart:
        return self._get(Cart, "/api/cart/")

    def add_to_cart(
        self, *, sku: str | None = None, product_id: int | None = None, quantity: int = 1
    ) -> Cart:
        if (sku is None) == (product_id is None):
            raise ValueError("give exactly one of sku or product_id")
        body: dict[str, Any] = {"quantity": quantity}
        body.update({"sku": sku} if sku is not None else {"product_id": product_id})
        return _model(Cart, self._json("POST", "/api/cart/items/", json=body))

    def update_cart_item(self, product_id: int, *, quantity: int) -> Cart:
        data = self._json(
            "PATCH", f"/api/cart/items/{int(product_id)}/", json={"quantity": quantity}
        )
        return _model(Cart, data)

    def remove_cart_item(self, product_id: int) -> None:
        self._json("DELETE", f"/api/cart/items/{int(product_id)}/")

    # -- checkout and orders
    def checkout(self, request: CheckoutRequest, *, idempotency_key: str | None = None) -> Order:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        data = self._json("POST", "/api/checkout/", json=request.model_dump(), headers=headers)
        return _model(Order, data)

    def list_orders(self, *, page: int | None = None) -> OrderPage:
        params = {"page": page} if page is not None else None
        return self._get(OrderPage, "/api/orders/", params=params)

    def get_order(self, order_id: int) -> Order:
        return self._get(Order, f"/api/orders/{int(order_id)}/")

    # -- auth
    def obtain_token(self, username: str, password: str) -> str:
        data = self._json(
            "POST", "/api/auth/token/", json={"username": username, "password": password}
        )
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str):
            raise UnexpectedResponse(f"POST /api/auth/token/: no token in {data!r}")
        self._http.headers["Authorization"] = f"Token {token}"
        return token

    def login(self, username: str, password: str) -> Me:
        data = self._json(
            "POST", "/api/auth/login/", json={"username": username, "password": password}
        )
        return _model(Me, data)

    def me(self) -> Me:
        return self._get(Me, "/api/auth/me/")

    # -- plumbing
    def _get(self, model: type[M], path: str, *, params: Mapping[str, Any] | None = None) -> M:
        return _model(model, self._json("GET", path, params=params))

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        resp = self._http.request(method, path, params=params, json=json, headers=headers)
        if resp.status_code >= 400:
            raise _error(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise UnexpectedResponse(f"{method} {path}: body is not JSON ({exc})") from None


def _model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UnexpectedResponse(f"{model.__name__}: {exc}") from None


def _validate_list(data: Any) -> list[Category]:
    try:
        return _CATEGORIES.validate_python(data)
    except ValidationError as exc:
        raise UnexpectedResponse(f"list[Category]: {exc}") from None


def _error(resp: httpx.Response) -> ShopAPIError:
    try:
        problem = Problem.model_validate(resp.json())
    except (ValueError, ValidationError):
        problem = Problem(status=resp.status_code, title=resp.reason_phrase, detail=resp.text[:200])
    return _ERRORS.get(resp.status_code, ShopAPIError)(resp.status_code, problem)
