"""Run a Pact verification, refuse vacuous passes, and record the result in the ledger.

``verify_http`` verifies one pact file against a running provider; the result that
counts is ``Verifier.results`` (pact-python collapses every FFI error into one
``RuntimeError``), and a run that checked zero interactions is a failure whatever the
verifier says (a wrong provider name with a directory source "passes" vacuously).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pact import Verifier
from pact import _server as pact_server

from contracts import ledger as ledger_mod

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")


def _close_after_shutdown() -> None:
    """pact-python 4.2's helper servers ``shutdown()`` but never ``server_close()``: the
    listening socket leaks (a ResourceWarning, an error under ``filterwarnings=error``)."""
    original = pact_server.HandlerHttpServer.shutdown
    if getattr(original, "_closes", False):
        return

    def shutdown(self: Any) -> None:
        original(self)
        self.server_close()

    shutdown._closes = True  # type: ignore[attr-defined]
    pact_server.HandlerHttpServer.shutdown = shutdown  # type: ignore[method-assign]


_close_after_shutdown()
# Set before the first Verifier: the FFI fixes its log level when it starts.
logging.getLogger("pact.ffi").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Outcome:
    implementation: str
    pact: Path
    passed: bool
    interactions: int
    failures: tuple[str, ...]
    output: str

    def report(self) -> str:
        head = (
            f"{self.pact.name} against {self.implementation}: "
            f"{'PASSED' if self.passed else 'FAILED'} ({self.interactions} interactions)"
        )
        return "\n".join([head, *(f"  - {f}" for f in self.failures)])


def _describe_error(error: Any) -> list[str]:
    """Readable lines out of one entry of ``Verifier.results["errors"]``."""
    interaction = error.get("interaction", "?") if isinstance(error, dict) else "?"
    detail = error.get("mismatch", error) if isinstance(error, dict) else error
    lines: list[str] = []
    mismatches = detail.get("mismatches") if isinstance(detail, dict) else None
    if mismatches:
        for m in mismatches:
            path = m.get("path") or m.get("key") or m.get("type", "")
            lines.append(f"{interaction}: {path} -> {m.get('mismatch', m)}")
    elif isinstance(detail, dict) and "message" in detail:
        lines.append(f"{interaction}: {detail['message']}")
    else:
        lines.append(f"{interaction}: {detail}")
    return lines


def _count(results: Mapping[str, Any]) -> int:
    return len(results.get("interactionResults") or [])


def run_verifier(verifier: Verifier, implementation: str, pact: Path) -> Outcome:
    try:
        verifier.verify()
        raised = None
    except RuntimeError as exc:  # any non-zero FFI code
        raised = exc
    results: Mapping[str, Any] = verifier.results or {}
    interactions = _count(results)
    failures: list[str] = []
    for error in results.get("errors") or []:
        failures.extend(_describe_error(error))
    if raised is not None and not failures:
        failures.append(f"verifier error: {raised}")
    if interactions == 0:
        failures.append("zero interactions were verified: a vacuous pass is a failure")
    passed = raised is None and bool(results.get("result")) and interactions > 0 and not failures
    try:
        output = verifier.output(strip_ansi=True)
    except Exception:  # the report is a convenience, never the verdict
        output = ""
    return Outcome(implementation, pact, passed, interactions, tuple(failures), output)


def verify_http(
    pact: Path,
    *,
    implementation: str,
    base_url: str,
    state_handler: str | Mapping[str, Callable[..., None]],
    ledger: Path | None,
    provider_version: str = "local",
    headers: Mapping[str, str] | None = None,
) -> Outcome:
    """``headers`` go on every replayed request: what sits between consumer and provider
    adds them in production (the facade's signed identity), so the pact does not hold them.
    """
    document_provider = _provider_name(pact)
    verifier = (
        Verifier(document_provider, host="127.0.0.1").add_source(pact).add_transport(url=base_url)
    )
    if headers:
        verifier.add_custom_headers(dict(headers))
    if isinstance(state_handler, str):
        verifier.state_handler(state_handler, body=True, teardown=False)
    else:
        verifier.state_handler(dict(state_handler), teardown=False)
    outcome = run_verifier(verifier, implementation, pact)
    if ledger is not None:
        _record(ledger, outcome, provider_version)
    return outcome


def verify_messages(
    pact: Path,
    *,
    implementation: str,
    producers: Mapping[str, Callable[..., Any]],
    states: Mapping[str, Callable[..., None]],
    ledger: Path | None,
    provider_version: str = "local",
) -> Outcome:
    verifier = (
        Verifier(_provider_name(pact), host="127.0.0.1")
        .add_source(pact)
        .message_handler(dict(producers))
        .state_handler(dict(states), teardown=False)
    )
    outcome = run_verifier(verifier, implementation, pact)
    if ledger is not None:
        _record(ledger, outcome, provider_version)
    return outcome


def _record(ledger: Path, outcome: Outcome, provider_version: str) -> None:
    ledger_mod.record(
        ledger,
        ledger_mod.Verification(
            implementation=outcome.implementation,
            pact=outcome.pact,
            passed=outcome.passed,
            interactions=outcome.interactions,
            failures=outcome.failures,
            provider_version=provider_version,
        ),
    )


def _provider_name(pact: Path) -> str:
    import json

    return str(json.loads(pact.read_text(encoding="utf-8"))["provider"]["name"])
