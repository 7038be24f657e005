"""A bias study's part of the HTML report: the page's verdicts, gap and slot charts, verdict and statistics tables."""

from __future__ import annotations

from typing import Any

from core.present.report_parts import ReportSection
from core.probes.bias import charts, reading, shares


def bias_report(result: dict[str, Any]) -> ReportSection:
    """The page's sentences (verdicts, the design's floor, shares not estimated), charts and tables."""
    lines = reading.reading_lines(result)
    power = reading.power_sentence(result)
    sentences = [("summary", lines[0])]
    sentences += [("warning" if line == power else "", line) for line in lines[1:]]
    missing = shares.not_estimated_sentence(result)
    if missing:
        sentences.append(("warning", missing))
    a, b = charts.compared(result)
    return ReportSection(
        sentences=sentences,
        charts=[
            (f"Gap per candidate ({a} minus {b}), with its interval", charts.gap_chart(result)),
            ("Which slot carries each gap", charts.attribution_chart(result)),
        ],
        tables=[
            ("Per candidate: verdict, gap, interval and corrected p", charts.reading_table(result)),
            ("All the statistics, ranked by the size of the gap", charts.candidates_table(result)),
        ],
    )
