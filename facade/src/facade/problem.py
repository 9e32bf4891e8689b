"""RFC 9457 problem details responses (application/problem+json)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson

from facade.types import RawHeaders, Send

PROBLEM_TYPE = "https://github.com/strangler-fig-django/facade#"


def problem_body(status: int, detail: str, **extra: Any) -> bytes:
    title = HTTPStatus(status).phrase
    slug = title.lower().replace(" ", "-")
    doc: dict[str, Any] = {
        "type": PROBLEM_TYPE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    doc.update(extra)
    return orjson.dumps(doc)


async def send_problem(
    send: Send,
    status: int,
    detail: str,
    headers: RawHeaders | None = None,
    **extra: Any,
) -> None:
    body = problem_body(status, detail, **extra)
    await send_bytes(send, status, body, b"application/problem+json", headers)


async def send_json(send: Send, status: int, data: Any, headers: RawHeaders | None = None) -> None:
    await send_bytes(send, status, orjson.dumps(data), b"application/json", headers)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: RawHeaders | None = None,
) -> None:
    out: RawHeaders = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if headers:
        out.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
