"""A few-shot run's part of the HTML report: the page's findings, its example chart and its tables."""

from __future__ import annotations

from typing import Any

from core.present.report_parts import ReportSection
from core.probes.few_shot import charts


def few_shot_report(result: dict[str, Any]) -> ReportSection:
    """The page's sentences, the examples' effect chart, the accuracy and per-example tables."""
    return ReportSection(
        sentences=charts.report_sentences(result),
        charts=[("Each example's effect on the right label's probability", charts.example_bar_chart(result))],
        tables=[("Accuracy", charts.accuracy_table(result)), ("Per example", charts.examples_table(result))],
    )
