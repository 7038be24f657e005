"""A self-contained HTML report of saved runs, with their charts drawn as inline SVG.

:func:`report_html` returns one HTML file that opens offline in any browser:
no scripts, no stylesheets or fonts to fetch, charts rendered ahead of time by
vl-convert into ``<svg>`` elements. Every piece of text from a user or a model
(titles, tags, notes, prompts, tokens, feature labels, spec values) goes
through ``html.escape``; the only markup is the fixed structure built here, the
escaped highlight fragment of ``core.present.highlight`` and the SVG of vl-convert
(which writes chart text as escaped XML).

A run kind's result and the comparison of its runs are drawn from its ``ReportSection``
(``core.kinds.RunKind.report`` and ``RunKind.compare``): nothing here names a kind.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import altair as alt
import pandas as pd

from core.errors import WhyLMError
from core.kinds import RUN_KINDS, stored_kind
from core.present import charts, trust
from core.present.compare import (
    ComparedRun,
    compare_runs,
    difference_chart,
    grouped_bar_chart,
    is_attribution_result,
)
from core.present.highlight import legend_html, result_highlight_html
from core.present.probe_compare import kind_compare, probe_kind
from core.present.report_parts import ReportSection
from core.store.records import RunRecord

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1000px;
color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-top:2px solid #ddd;padding-top:1rem;margin-top:2.5rem}
h3{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.summary{background:#eef4fb;border-left:4px solid #2166ac;padding:.5rem .8rem}
.warning{background:#fff6e0;border-left:4px solid #d08c00;padding:.5rem .8rem}
.table-wrap{max-width:100%;overflow-x:auto}
.chart{margin:1rem 0;overflow-x:auto}.chart svg{max-width:100%;height:auto}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap}
.muted{color:#666;font-size:.85rem}
"""


def esc(value: Any) -> str:
    """Any value as HTML-escaped text (quotes included)."""
    return html.escape(str(value), quote=True)


def _number(value: Any, digits: int = 4) -> str:
    """A number for a table cell ("–" when missing or not finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "\u2013"
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def table_html(frame: pd.DataFrame, caption: str | None = None) -> str:
    """A DataFrame as an escaped HTML table (numbers right-aligned)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for value in record:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cells.append(f'<td class="num">{esc(_number(value))}</td>')
            else:
                cells.append(f"<td>{esc('' if value is None else value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    # a wide table scrolls inside its own box instead of widening the page
    return f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def chart_svg_html(chart: alt.TopLevelMixin | None, label: str) -> str:
    """A chart as an inline ``<svg>`` block, or a sentence when it cannot be drawn."""
    if chart is None:
        return ""
    try:
        svg = charts.chart_svg(chart)
    except Exception as exc:  # noqa: BLE001 - a report without one picture is still useful
        return (
            f'<p class="warning">The chart "{esc(label)}" could not be drawn ({esc(type(exc).__name__)}).</p>'
        )
    return f'<div class="chart" role="img" aria-label="{esc(label)}">{svg}</div>'


# ---------------------------------------------------------------- probe results


def summary_lines(result: dict[str, Any] | None) -> list[str]:
    """The plain-words summary a probe result carries (a list or a paragraph), as sentences."""
    if not isinstance(result, dict):
        return []
    summary = result.get("summary")
    if isinstance(summary, str):
        return [summary] if summary.strip() else []
    if isinstance(summary, list):
        return [str(s) for s in summary if str(s).strip()]
    return []


def _report_part(result: Any) -> ReportSection | None:
    """The result's part of the report by its kind's ``RunKind.report`` (None: the kind has none)."""
    kind = stored_kind(result)
    return kind.report(result) if kind is not None and kind.report is not None else None


# ---------------------------------------------------------------- one run


def _when(moment: datetime) -> str:
    """A creation time as "2025-01-31 14:05 UTC"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _facts(record: RunRecord) -> str:
    """The run's summary fields as a two-column table."""
    facts = [
        ("Run", f"{record.id}"),
        ("Kind", RUN_KINDS[record.kind].title if record.kind in RUN_KINDS else record.kind),
        ("Created", _when(record.created_at)),
        ("Model", record.model_name + (f" ({record.model_revision})" if record.model_revision else "")),
        ("Method", record.method or "\u2013"),
        ("Status", record.status + (f": {record.error}" if record.error else "")),
        ("Seconds", _number(record.seconds, 3) if record.seconds is not None else "\u2013"),
        ("Tags", ", ".join(record.tags) or "\u2013"),
    ]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    return f'<div class="table-wrap"><table>{rows}</table></div>'


def _notes(record: RunRecord) -> str:
    """The review notes as a list (or a sentence that there are none)."""
    if not record.notes:
        return '<p class="muted">No review notes.</p>'
    items = "".join(
        f"<li><strong>{esc(n.verdict)}</strong> \u2014 {esc(n.author)}, {esc(_when(n.created_at))}: {esc(n.text)}</li>"
        for n in record.notes
    )
    return f"<ul>{items}</ul>"


def _attribution_body(result: dict[str, Any], chart_fn: Callable[[Any, str], str]) -> str:
    """Summary, scores, highlighted prompt, bar chart, heatmap and numbers of an attribution result."""
    view = charts.at_level(result, "words") if charts.has_token_level(result) else result
    parts = [f'<p class="summary">{esc(charts.summary_sentence(view))}</p>']
    target = result.get("target") or {}
    label = "Generated output" if target.get("generated") else "Explained output"
    parts.append(f"<p><strong>{esc(label)}:</strong> {esc(target.get('text', ''))}</p>")
    if target.get("contrast"):
        parts.append(f"<p><strong>Alternative (contrast):</strong> {esc(target['contrast'])}</p>")
    try:
        parts.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in charts.score_sentences(result)) + "</ul>")
    except (KeyError, TypeError, ValueError):
        pass
    if view.get("prompt_tokens") and view.get("feature_tokens"):
        parts.append("<h4>The prompt, coloured by each part's effect on the output</h4>")
        parts.append(result_highlight_html(view))
        parts.append(legend_html())
    stderr = result.get("seq_stderr") if view is result else None  # the errors are per feature, not per word
    bars = charts.sequence_bar_chart(view, title="Effect on the whole output", stderr=stderr)
    parts.append(chart_fn(bars, "bar chart"))
    noise = trust.noise_sentence(view, list(view.get("seq_attr") or []), stderr)
    if noise:
        parts.append(f'<p class="warning">{esc(noise)}</p>')
    parts.append(chart_fn(charts.token_heatmap(view, title="Effect on each output token"), "heatmap"))
    faithful = trust.faithfulness_of(result)
    if faithful is not None:
        parts.append(
            "<h4>Does the picture explain the model? (deletion and insertion against random orders)</h4>"
        )
        parts.append(f"<p>{esc(trust.faithfulness_sentence(faithful) or '')}</p>")
        parts.append(chart_fn(trust.faithfulness_chart(faithful), "faithfulness curves"))
    parts.append("<h4>Numbers</h4>")
    parts.append(table_html(charts.attribution_table(view)))
    return "".join(parts)


def section_html(part: ReportSection, chart_fn: Callable[[Any, str], str]) -> str:
    """A kind's section (its result, or a comparison of its runs) as HTML: sentences, bullets, charts, tables."""
    parts = [
        f'<p class="{css}">{esc(line)}</p>' if css else f"<p>{esc(line)}</p>" for css, line in part.sentences
    ]
    if part.bullets:
        parts.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in part.bullets) + "</ul>")
    for caption, chart in part.charts:
        if chart is not None:
            parts.append(f"<h4>{esc(caption)}</h4>")
            parts.append(chart_fn(chart, caption))
    for caption, frame in part.tables:
        parts.append(f"<h4>{esc(caption)}</h4>")
        parts.append(table_html(frame))
    return "".join(parts)


def _probe_body(result: dict[str, Any], chart_fn: Callable[[Any, str], str]) -> str:
    """The page's sentences, charts and tables of a probe result (its kind's report part), else its summary."""
    part = _report_part(result) or ReportSection(
        sentences=[("summary", line) for line in summary_lines(result)]
    )
    return section_html(part, chart_fn)


def run_section(record: RunRecord, chart_fn: Callable[[Any, str], str] = chart_svg_html) -> str:
    """The report section of one saved run: facts, notes, its charts and tables, and its spec."""
    parts = [f'<section id="run-{record.id}"><h2>Run {record.id}: {esc(record.title)}</h2>', _facts(record)]
    result = record.result
    if result is None:
        parts.append(
            f'<p class="warning">This run has no result ({esc(record.status)}'
            f"{': ' + esc(record.error) if record.error else ''}).</p>"
        )
    elif is_attribution_result(result):
        parts.append(_attribution_body(result, chart_fn))
    else:
        parts.append(_probe_body(result, chart_fn))
    parts.append("<h3>Review notes</h3>")
    parts.append(_notes(record))
    parts.append("<h3>Run specification</h3>")
    parts.append(f"<pre>{esc(json.dumps(record.spec, indent=2, ensure_ascii=False))}</pre>")
    parts.append("</section>")
    return "".join(parts)


def probe_comparison_section(
    records: Sequence[RunRecord], chart_fn: Callable[[Any, str], str] = chart_svg_html
) -> str:
    """A comparison of two to four runs of one kind by that kind's own rule (``RunKind.compare``); empty otherwise."""
    runs = [ComparedRun(r.id, r.title, r.result) for r in records if r.result]
    kind = probe_kind(runs) if len(runs) == len(records) and 2 <= len(runs) <= 4 else None
    if kind is None:
        return ""
    try:
        part = kind_compare(kind)(runs)
    except WhyLMError:
        return ""
    return f'<section id="comparison"><h2>Comparison</h2>{section_html(part, chart_fn)}</section>'


def comparison_section(
    records: Sequence[RunRecord], chart_fn: Callable[[Any, str], str] = chart_svg_html
) -> str:
    """A comparison of two to four attribution runs, or of probe runs of one kind (empty when nothing compares)."""
    probes = probe_comparison_section(records, chart_fn)
    if probes:
        return probes
    runs = [ComparedRun(r.id, r.title, r.result) for r in records if is_attribution_result(r.result)]
    if not 2 <= len(runs) <= 4:
        return ""
    try:
        comparison = compare_runs(runs)
    except WhyLMError:
        return ""
    parts = ['<section id="comparison"><h2>Comparison</h2>']
    parts += [f'<p class="warning">{esc(reason)}</p>' for reason in comparison.reasons]
    parts += [f'<p class="muted">{esc(note)}</p>' for note in comparison.notes]
    if comparison.labels:
        parts.append(
            chart_fn(grouped_bar_chart(comparison, title="Attribution per feature, by run"), "grouped bars")
        )
        if len(runs) == 2:
            parts.append(chart_fn(difference_chart(comparison, title="Difference per feature"), "difference"))
        parts.append(table_html(comparison.wide_frame()))
    parts.append("</section>")
    return "".join(parts)


def report_html(
    records: Sequence[RunRecord],
    title: str = "WhyLM report",
    chart_fn: Callable[[Any, str], str] = chart_svg_html,
) -> str:
    """One self-contained HTML page reporting ``records`` (charts as inline SVG, all text escaped).

    With two to four attribution runs, or probe runs of one kind, a comparison section comes first. ``chart_fn``
    turns (chart, label) into HTML; the default renders inline SVG with vl-convert.
    """
    if not records:
        raise WhyLMError("Pick at least one run to put in the report.")
    made = _when(datetime.now(UTC))
    listing = "".join(f'<li><a href="#run-{r.id}">Run {r.id}</a>: {esc(r.title)}</li>' for r in records)
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">Made by WhyLM on {esc(made)}. Blue pushed the model toward the output, '
        "red against it.</p>",
        f"<ul>{listing}</ul>",
        comparison_section(records, chart_fn),
        *(run_section(r, chart_fn) for r in records),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>" + "".join(body) + "</body></html>\n"
    )
