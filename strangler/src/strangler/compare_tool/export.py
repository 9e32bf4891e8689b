"""One standalone pytest file per mismatch: the recorded request, both sides, same rules.

A generated file needs only httpx and ``facade.compare``. It sends the request to
``COMPARE_PRIMARY_URL`` and ``COMPARE_CANDIDATE_URL`` (defaulting to the URLs of the run
that found it) and asserts the answers match under the route's rules and learned noise,
so it fails with the same diff for as long as the mismatch lasts.
"""

from __future__ import annotations

import base64
import pprint
import re
from pathlib import Path

from facade.redact import mask_target

from strangler.compare_tool.replay import Outcome, ReplayReport, rules_kwargs

_TEMPLATE = '''\
"""Reproduces a mismatch found by ``strangler compare run``.

Route {route!r}, {where}: {method} {shown}
Primary {primary_url}, candidate {candidate_url}; differences then:
{diffs}

Run against other sides with COMPARE_PRIMARY_URL / COMPARE_CANDIDATE_URL.
"""

import base64
import os

import httpx
from facade.compare import CompareRules, NoiseModel, Observed, compare

PRIMARY_URL = os.environ.get("COMPARE_PRIMARY_URL", {primary_url!r})
CANDIDATE_URL = os.environ.get("COMPARE_CANDIDATE_URL", {candidate_url!r})
METHOD = {method!r}
PATH = {path!r}
HEADERS = {headers}
BODY = {body!r}
RULES = CompareRules.build(
    **{rules}
)
NOISE = NoiseModel(frozenset({noise}))


def observe(base_url: str) -> Observed:
    content = base64.b64decode(BODY) if BODY else None
    with httpx.Client(timeout=30, follow_redirects=False, trust_env=False) as client:
        response = client.request(
            METHOD, base_url.rstrip("/") + PATH, headers=HEADERS, content=content
        )
    return Observed(response.status_code, list(response.headers.raw), response.content)


def test_{name}() -> None:
    result = compare(observe(PRIMARY_URL), observe(CANDIDATE_URL), RULES, NOISE)
    assert result.matched, "\\n".join(
        f"{{d.path}} ({{d.kind}}): primary={{d.primary!r}} candidate={{d.candidate!r}}"
        for d in result.diffs
    )
'''


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "route"


def _doc(text: str) -> str:
    """Text that cannot end or escape out of the docstring it goes into."""
    return text.replace("\\", "\\\\").replace('"""', "'''")


def _indented(value: object, indent: int) -> str:
    return pprint.pformat(value, width=92 - indent, sort_dicts=False).replace(
        "\n", "\n" + " " * indent
    )


def render_test(outcome: Outcome, report: ReplayReport, name: str) -> str:
    request, comparison = outcome.request, outcome.comparison
    assert comparison is not None
    route_id = outcome.route.route_id
    shown = mask_target(request.path, frozenset(outcome.route.config.pii))
    diffs = "\n".join(
        f"- {d.path} ({d.kind}): primary={d.primary!r} candidate={d.candidate!r}"
        for d in comparison.diffs[:20]
    )
    return _TEMPLATE.format(
        route=route_id,
        where=f"traffic line {request.line}" if request.line else "generated request",
        method=request.method,
        shown=_doc(shown),
        primary_url=report.primary_url,
        candidate_url=report.candidate_url,
        diffs=_doc(diffs),
        path=request.path,
        headers=_indented(dict(request.headers), 10),
        body=base64.b64encode(request.body).decode("ascii") if request.body else None,
        rules=_indented(rules_kwargs(outcome.route.config), 4),
        noise=_indented(sorted(report.noise.get(route_id, ())), 4),
        name=name,
    )


def export_tests(report: ReplayReport, directory: Path) -> list[Path]:
    """Write one test file per mismatch into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for number, outcome in enumerate(report.mismatches, start=1):
        slug = _slug(outcome.route.route_id)
        line = outcome.request.line or number
        name = f"{slug}_line_{line}"
        path = directory / f"test_mismatch_{number:03d}_{slug}.py"
        path.write_text(render_test(outcome, report, name), encoding="utf-8")
        written.append(path)
    return written
