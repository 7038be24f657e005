"""A study's part of the HTML report (and of the Saved runs page): its sentences and tables."""

from __future__ import annotations

from typing import Any

from core.present.report_parts import ReportSection
from core.probes.studies.tables import (
    category_table,
    comparison_table,
    models_line,
    regressions_table,
    short_names,
)


def study_report(result: dict[str, Any]) -> ReportSection:
    """The summary in plain words, the table per category side by side, each comparison and its regressions."""
    lines = result.get("summary") or []
    sentences = [("summary", lines[0])] if lines else []
    sentences += [("", line) for line in lines[1:]]
    if result.get("bad_rows"):
        sentences.append(
            ("warning", f"{len(result['bad_rows'])} rows were skipped: " + "; ".join(result["bad_rows"][:5]))
        )
    caption = "Per category, each model" + (f". {models_line(result)}" if models_line(result) else "")
    tables = [(caption, category_table(result))]
    if result.get("comparisons"):
        names = short_names(result)
        tables.append(("Each model against the first, item by item", comparison_table(result)))
        for comparison in result["comparisons"]:
            tables.append(
                (
                    f"Regressions of {names[comparison['model']]} against {names[0]} (flips first, largest first)",
                    regressions_table(result, comparison),
                )
            )
    return ReportSection(sentences=sentences, tables=tables)
