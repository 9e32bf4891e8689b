"""The results of a replay: a table per route for the terminal, a self-contained HTML page.

Every value in the page is escaped: answers are untrusted text. Bodies shown beside a
mismatch have the route's ``pii`` fields masked, as the facade's stored samples do.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable

from facade.compare import Observed, mask_json
from facade.redact import mask_target
from rich.table import Table

from strangler.compare_tool.replay import Outcome, ReplayReport, RouteSummary

_BODY_CHARS = 20_000


def _rate(summary: RouteSummary) -> str:
    rate = summary.match_rate
    return "-" if rate is None else f"{rate:.1%}"


def _fields(summary: RouteSummary) -> str:
    return ", ".join(f"{path} ({n})" for path, n in summary.top_fields())


def route_table(report: ReplayReport) -> Table:
    table = Table(title="Comparison per route", header_style="bold")
    # The route id must stay whole; the fields column folds when the terminal is narrow.
    table.add_column("route", no_wrap=True)
    for name in ("requests", "matched", "mismatched", "errors", "match rate"):
        table.add_column(name, justify="right")
    table.add_column("top mismatching fields", overflow="fold")
    for summary in _ordered(report.routes.values()):
        table.add_row(
            summary.route_id,
            str(summary.requests),
            str(summary.matched),
            f"[red]{summary.mismatched}[/]" if summary.mismatched else "0",
            f"[yellow]{summary.errors}[/]" if summary.errors else "0",
            _rate(summary),
            _fields(summary),
        )
    return table


def _ordered(summaries: Iterable[RouteSummary]) -> list[RouteSummary]:
    return sorted(summaries, key=lambda s: s.route_id)


def target_of(outcome: Outcome) -> str:
    """The request target as shown: token-like query values and pii names masked."""
    return mask_target(outcome.request.path, frozenset(outcome.route.config.pii))


# -- HTML --------------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d1d1f}
h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f6}td.n{text-align:right}
.bad{color:#b00020;font-weight:600}.ok{color:#0a7d32}
section.mismatch{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:.5rem}
pre{background:#f8f8fa;padding:.5rem;overflow:auto;max-height:30rem;white-space:pre-wrap;
word-break:break-all;margin:0}
code{background:#f4f4f6;padding:0 .2rem}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_html(report: ReplayReport, generated_at: dt.datetime | None = None) -> str:
    at = (generated_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    total, mismatched = report.total, len(report.mismatches)
    verdict = (
        '<span class="ok">everything matched</span>'
        if report.all_matched
        else f'<span class="bad">{mismatched} mismatched, {len(report.errors)} errors</span>'
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>strangler compare report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Primary vs candidate</h1>",
        f"<p>primary <code>{_e(report.primary_url)}</code>, candidate "
        f"<code>{_e(report.candidate_url)}</code>; {total} requests; {verdict}; {_e(at)}</p>",
        "<h2>Routes</h2>",
        "<table><tr><th>route</th><th>requests</th><th>matched</th><th>mismatched</th>"
        "<th>errors</th><th>match rate</th><th>top mismatching fields</th>"
        "<th>learned noise</th></tr>",
    ]
    for s in _ordered(report.routes.values()):
        parts.append(
            f"<tr><td>{_e(s.route_id)}</td><td class=n>{s.requests}</td>"
            f"<td class=n>{s.matched}</td>"
            f'<td class="n{" bad" if s.mismatched else ""}">{s.mismatched}</td>'
            f'<td class="n{" bad" if s.errors else ""}">{s.errors}</td>'
            f"<td class=n>{_e(_rate(s))}</td><td>{_e(_fields(s))}</td>"
            f"<td>{_e(', '.join(sorted(s.noise)))}</td></tr>"
        )
    parts.append("</table>")
    parts.append(f"<h2>Mismatches ({mismatched})</h2>")
    if not report.mismatches:
        parts.append("<p>None.</p>")
    for number, outcome in enumerate(report.mismatches, start=1):
        parts.append(_mismatch(number, outcome))
    if report.errors:
        parts.append(f"<h2>Errors ({len(report.errors)})</h2><table>")
        parts.append("<tr><th>route</th><th>request</th><th>line</th><th>error</th></tr>")
        for outcome in report.errors:
            parts.append(
                f"<tr><td>{_e(outcome.route.route_id)}</td>"
                f"<td>{_e(outcome.request.method)} {_e(target_of(outcome))}</td>"
                f"<td class=n>{outcome.request.line or '-'}</td><td>{_e(outcome.error)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _mismatch(number: int, outcome: Outcome) -> str:
    request, comparison = outcome.request, outcome.comparison
    assert comparison is not None
    assert outcome.primary is not None
    assert outcome.candidate is not None
    pii = frozenset(outcome.route.config.pii)
    line = f", traffic line {request.line}" if request.line else ""
    rows = "".join(
        f"<tr><td><code>{_e(d.path)}</code></td><td>{_e(d.kind)}</td>"
        f"<td><pre>{_e('' if d.primary is None else d.primary)}</pre></td>"
        f"<td><pre>{_e('' if d.candidate is None else d.candidate)}</pre></td></tr>"
        for d in comparison.diffs
    )
    more = " (more not listed)" if comparison.truncated else ""
    return (
        f'<section class="mismatch" id="m{number}">'
        f"<h3>#{number} {_e(request.method)} {_e(target_of(outcome))}</h3>"
        f"<p>route <code>{_e(outcome.route.route_id)}</code>{_e(line)}; status "
        f"{outcome.primary.status} / {outcome.candidate.status}; "
        f"{len(comparison.diffs)} difference{'' if len(comparison.diffs) == 1 else 's'}{more}</p>"
        "<table><tr><th>path</th><th>kind</th><th>primary</th><th>candidate</th></tr>"
        f"{rows}</table>"
        "<details><summary>answers side by side</summary><div class=sides>"
        f"<div><b>primary</b><pre>{_e(_body(outcome.primary, pii))}</pre></div>"
        f"<div><b>candidate</b><pre>{_e(_body(outcome.candidate, pii))}</pre></div>"
        "</div></details></section>"
    )


def _body(observed: Observed, pii: frozenset[str]) -> str:
    raw = observed.body or b""
    try:
        text = json.dumps(mask_json(json.loads(raw), pii), indent=2, ensure_ascii=False)
    except ValueError:
        text = raw.decode("utf-8", "replace")
    if len(text) > _BODY_CHARS:
        text = text[:_BODY_CHARS] + "\n…"
    return text
