"""Schemathesis: the catalog service against its committed OpenAPI, and the same
OpenAPI replayed against the monolith to show where the baseline disagrees.

What fails: any 5xx from either side, and any response of the service that breaks its
own schema (an undocumented status code, a body or content type the schema does not
allow). The monolith is not bound by a schema it never declared: its disagreements
(undocumented status codes, shape differences) are written to
``.state/contracts/openapi-vs-monolith.txt`` and printed, for a human to judge.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from contracts.catalog_states import state_handlers
from contracts.paths import REPO_ROOT, ledger_path
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SCHEMA = schemathesis.openapi.from_path(REPO_ROOT / "extracted/catalog/openapi.json").include(
    path_regex=r"^/api/"
)
STRICT = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
PRODUCT = {"id": 42, "sku": "SKU-0042", "price": "12.50", "category": "cups",
           "attributes": {"color": "red"}, "weight_grams": 250}  # fmt: skip


@pytest.fixture(scope="module")
def seeded(catalog_provider, monolith_url: str) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    state_handlers(catalog_provider.engine)["a product exists"]("setup", PRODUCT)
    httpx.post(f"{monolith_url}/_pact/provider-states",
               json={"state": "a product exists", "params": PRODUCT, "action": "setup"},
               timeout=10).raise_for_status()  # fmt: skip
    return catalog_provider.url, monolith_url


@pytest.fixture(scope="module")
def disagreements() -> Iterator[list[tuple[str, str]]]:
    found: list[tuple[str, str]] = []  # (side, operation and failure kind), example path
    yield found
    report = ledger_path().parent / "openapi-vs-monolith.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    counts = Counter(key for key, _ in found)
    example = {key: path for key, path in found}
    lines = [f"{key}  (x{n}, e.g. {example[key]})" for key, n in sorted(counts.items())]
    report.write_text("\n".join(lines) + ("\n" if lines else ""))
    print(f"\n{len(lines)} kind(s) of disagreement with the catalog OpenAPI ({report}):")
    for line in lines:
        print("  " + line)


def _failures(exc: BaseException) -> list[str]:
    inner = getattr(exc, "exceptions", None)
    if inner:
        return [line for e in inner for line in _failures(e)]
    return [str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__]


@SCHEMA.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_service_and_monolith_against_the_service_openapi(
    case,
    seeded: tuple[str, str],
    disagreements: list[tuple[str, str]],  # type: ignore[no-untyped-def]
) -> None:
    service_url, monolith_url = seeded
    service = case.call(base_url=service_url)
    case.validate_response(service, checks=STRICT)

    monolith = case.call(base_url=monolith_url)
    assert monolith.status_code < 500, (
        f"monolith 5xx on {case.method} {case.path}: {monolith.text[:300]}"
    )
    try:
        case.validate_response(
            monolith,
            checks=[
                status_code_conformance,
                response_schema_conformance,
                content_type_conformance,
            ],
        )
    except (AssertionError, BaseExceptionGroup) as exc:
        for line in _failures(exc):
            disagreements.append(
                (f"monolith {case.method} {case.path}: {line}", case.formatted_path)
            )
