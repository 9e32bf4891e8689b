"""Real HTTP servers on loopback for the saga's participants: a fake monolith implementing
the pinned internal endpoints with in-memory stock, and a fake catalog (/v2/products/{id})."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ServerThread:
    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="none",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        wait_until(lambda: self.server.started, what="the fake server")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Product:
    product_id: int
    sku: str
    name: str
    price: str
    stock: int
    active: bool = True
    currency: str = "EUR"


@dataclass
class FakeMonolith:
    products: dict[int, Product] = field(default_factory=dict)
    carts: dict[str, dict[str, Any]] = field(default_factory=dict)  # session id -> cart
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    reservations: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    tombstones: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    reservation_delay: float = 0.0
    clear_fails: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)  # (endpoint, command id)
    finished: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.products = {
                1: Product(1, "SKU-1", "Mug", "12.50", 5),
                2: Product(2, " sku-2 ", "Plate", "7.25", 1),
                3: Product(3, "SKU-3", "Gone", "3.00", 9, active=False),
            }
            self.carts.clear()
            self.commands.clear()
            self.reservations.clear()
            self.tombstones.clear()
            self.released.clear()
            self.calls.clear()
            self.finished.clear()
            self.reservation_delay = 0.0
            self.clear_fails = False

    def put_cart(
        self,
        session: str,
        items: dict[int, int],
        cart_id: int = 7,
        user: dict[str, Any] | None = None,
    ) -> None:
        self.carts[session] = {"cart_id": cart_id, "user": user, "items": dict(items)}

    def stock(self, product_id: int) -> int:
        return self.products[product_id].stock

    # --- endpoints ---------------------------------------------------------------------

    async def cart(self, request: Request) -> JSONResponse:
        session = request.cookies.get("sessionid", "")
        cart = self.carts.get(session)
        if cart is None:
            return JSONResponse({"cart_id": None, "user": None, "items": []})
        items = []
        for product_id, qty in sorted(cart["items"].items()):
            p = self.products[product_id]
            items.append(
                {
                    "product_id": p.product_id,
                    "sku": p.sku,
                    "name": p.name,
                    "unit_price": p.price,
                    "currency": p.currency,
                    "quantity": qty,
                    "available": p.active,
                }
            )
        return JSONResponse({"cart_id": cart["cart_id"], "user": cart["user"], "items": items})

    def _replay(self, command_id: str) -> JSONResponse | None:
        if command_id in self.commands:
            return JSONResponse({**self.commands[command_id], "replayed": True})
        return None

    def _record(self, command_id: str, body: dict[str, Any]) -> JSONResponse:
        self.commands[command_id] = body
        return JSONResponse({**body, "replayed": False})

    async def reserve(self, request: Request) -> JSONResponse:
        body = await request.json()
        command_id = body["command_id"]
        self.calls.append(("reserve", command_id))
        if self.reservation_delay:
            await asyncio.sleep(self.reservation_delay)
        try:
            with self.lock:
                replay = self._replay(command_id)
                if replay is not None:
                    return replay
                base = {"command_id": command_id, "detail": "", "sku": None, "available": None}
                if command_id in self.tombstones:
                    return self._record(command_id, {**base, "outcome": "cancelled"})
                lines = [(ln["product_id"], ln["quantity"]) for ln in body["lines"]]
                for product_id, qty in lines:
                    p = self.products.get(product_id)
                    if p is None:
                        return self._record(command_id, {**base, "outcome": "unknown_product"})
                    if p.stock < qty:
                        return self._record(
                            command_id,
                            {
                                **base,
                                "outcome": "insufficient_stock",
                                "sku": p.sku,
                                "available": p.stock,
                                "detail": f"Only {p.stock} of {p.sku.strip()} in stock, "
                                f"{qty} requested.",
                            },
                        )
                for product_id, qty in lines:
                    self.products[product_id].stock -= qty
                self.reservations[command_id] = lines
                return self._record(command_id, {**base, "outcome": "reserved"})
        finally:
            self.finished.append(("reserve", command_id))

    async def release(self, request: Request) -> JSONResponse:
        body = await request.json()
        command_id, reservation_id = body["command_id"], body["reservation_id"]
        self.calls.append(("release", command_id))
        with self.lock:
            replay = self._replay(command_id)
            if replay is not None:
                return replay
            lines = self.reservations.get(reservation_id)
            if lines is None or reservation_id in self.released:
                self.tombstones.add(reservation_id)
                return self._record(
                    command_id, {"command_id": command_id, "outcome": "nothing_reserved"}
                )
            for product_id, qty in lines:
                self.products[product_id].stock += qty
            self.released.add(reservation_id)
            return self._record(command_id, {"command_id": command_id, "outcome": "released"})

    async def clear(self, request: Request) -> JSONResponse:
        body = await request.json()
        command_id = body["command_id"]
        self.calls.append(("clear", command_id))
        if self.clear_fails:
            return JSONResponse({"detail": "down"}, status_code=503)
        with self.lock:
            replay = self._replay(command_id)
            if replay is not None:
                return replay
            for cart in self.carts.values():
                if cart["cart_id"] == body["cart_id"]:
                    cart["items"].clear()
                    return self._record(
                        command_id, {"command_id": command_id, "outcome": "cleared"}
                    )
            return self._record(command_id, {"command_id": command_id, "outcome": "no_cart"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/_internal/checkout/cart", self.cart, methods=["GET"]),
                Route("/_internal/inventory/reservations", self.reserve, methods=["POST"]),
                Route("/_internal/inventory/releases", self.release, methods=["POST"]),
                Route("/_internal/checkout/cart/clear", self.clear, methods=["POST"]),
            ]
        )


def catalog_app(monolith: FakeMonolith) -> Starlette:
    async def product(request: Request) -> JSONResponse:
        product_id = int(request.path_params["product_id"])
        p = monolith.products.get(product_id)
        if p is None or not p.active:
            return JSONResponse({"status": 404}, status_code=404)
        minor = int(p.price.replace(".", ""))
        return JSONResponse(
            {
                "id": p.product_id,
                "sku": p.sku.strip().upper(),
                "name": f"{p.name} (current)",
                "price": {"amount_minor": minor, "currency": "EUR", "amount": p.price},
                "status": "active",
                "in_stock": p.stock > 0,
            }
        )

    return Starlette(routes=[Route("/v2/products/{product_id}", product)])
