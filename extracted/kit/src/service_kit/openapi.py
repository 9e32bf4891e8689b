"""The OpenAPI document with the problem responses a service really sends.

FastAPI documents 422 validation errors and no problem bodies; the services answer 400
problem details instead (the legacy API's status). The shared part is here: the
``Problem`` schema, the response object that points at it, and the pass over the
``/api/`` and ``/v2/`` operations. Which statuses an operation documents, and any problem
fields beyond RFC 9457's, are the service's to say.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

PROBLEM_PROPERTIES: dict[str, object] = {
    "type": {"type": "string"},
    "title": {"type": "string"},
    "status": {"type": "integer"},
    "detail": {"type": "string"},
    "instance": {"type": "string"},
    "errors": {"type": "object", "additionalProperties": {"type": "array"}},
}

# (path, responses of one operation, the operation) -> None; edits ``responses`` in place.
DocumentOperation = Callable[[str, dict[str, Any], dict[str, Any]], None]


def problem_schema(extra_properties: Mapping[str, object] | None = None) -> dict[str, object]:
    return {
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {**PROBLEM_PROPERTIES, **(extra_properties or {})},
    }


def problem(description: str) -> dict[str, object]:
    """A response documented as a problem details body."""
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def install(
    app: FastAPI,
    document_operation: DocumentOperation,
    *,
    extra_properties: Mapping[str, object] | None = None,
) -> None:
    """Serve ``app``'s document with problem responses instead of FastAPI's 422s."""
    app.openapi = lambda: _document(app, document_operation, extra_properties)  # type: ignore[method-assign]


def _document(
    app: FastAPI,
    document_operation: DocumentOperation,
    extra_properties: Mapping[str, object] | None,
) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = problem_schema(extra_properties)
    for path, operations in schema["paths"].items():
        if not path.startswith(("/api/", "/v2/")):
            continue
        for operation in operations.values():
            responses = operation["responses"]
            responses.pop("422", None)
            document_operation(path, responses, operation)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = schema
    return schema
