"""The catalog service, read for API composition (``GET /v2/products/{id}``).

The catalog has no batch lookup by ids, so products are fetched one call each,
concurrently, under one short timeout. Any failure but a 404 means "the catalog did not
answer": the caller then answers with the lines as recorded and ``partial: true``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpx


class CatalogUnavailable(Exception):
    pass


class CatalogClient:
    def __init__(self, base_url: str, *, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:  # fmt: skip
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                         transport=transport)  # fmt: skip
        self._timeout = timeout

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _one(self, product_id: int) -> dict[str, Any] | None:
        try:
            response = await self._client.get(f"/v2/products/{product_id}")
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
        if response.status_code == 404:
            return None  # hidden, discontinued or deleted: nothing current to show
        if response.status_code != 200:
            raise CatalogUnavailable(f"HTTP {response.status_code}")
        body = response.json()
        if not isinstance(body, dict):
            raise CatalogUnavailable("not a JSON object")
        return body

    async def products(self, ids: Iterable[int]) -> dict[int, dict[str, Any] | None]:
        """Current product data by id (None: the catalog does not show it); raises
        :class:`CatalogUnavailable` when any lookup fails or the whole set takes too long."""
        wanted = sorted(set(ids))
        try:
            async with asyncio.timeout(self._timeout):
                found = await asyncio.gather(*(self._one(i) for i in wanted))
        except TimeoutError:
            raise CatalogUnavailable("timed out") from None
        return dict(zip(wanted, found, strict=True))
