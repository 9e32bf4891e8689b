"""The orders service's problems: service-layer errors answered as problem details.

Problem details themselves (the body, the handlers) are ``service_kit.problems``; this
module maps ``ServiceError`` (with its extra fields, e.g. ``order_id``) onto them, and
unexpected errors are logged under its logger.
"""

from __future__ import annotations

import logging

from fastapi import Request
from service_kit.problems import Problem, problem_response
from starlette.responses import Response

from orders_service.service_layer.errors import ServiceError

logger = logging.getLogger(__name__)


def from_service_error(error: ServiceError) -> Problem:
    return Problem(error.status, error.slug, error.detail, title=error.title,
                   errors=error.errors, extra=error.extra())  # fmt: skip


async def on_service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return problem_response(request, from_service_error(exc))
