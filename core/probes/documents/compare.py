"""Document runs side by side: each run's answer, its top sources and its check; a document's sentences
across runs when they attribute the same document (another method, budget, layout or model)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.errors import WhyLMError
from core.present.compare import MAX_COMPARED, ComparedRun
from core.present.report_parts import ReportSection
from core.probes.documents.reading import source_text


def _check(result: dict[str, Any], k: int) -> float | None:
    row = next((r for r in result["top_k"] if r["k"] == k), None)
    return None if row is None else round(row["drop"], 3)


def runs_table(runs: Sequence[ComparedRun]) -> pd.DataFrame:
    """One row per run: its method, passes, answer, top source and check drops."""
    rows = []
    for run in runs:
        r = run.result
        top = r["ranked"][0] if r["ranked"] else None
        rows.append(
            {
                "run": run.name,
                "method": r["spec"].get("method"),
                "passes": r["meta"].get("attribution_passes"),
                "answer": r["answer"],
                "top source": "" if top is None else source_text(r, top, 120),
                "drop@1": _check(r, 1),
                "drop@3": _check(r, 3),
                "drop@5": _check(r, 5),
            }
        )
    return pd.DataFrame(rows)


def shared_sources(runs: Sequence[ComparedRun]) -> pd.DataFrame | None:
    """When every run attributes the same document at the same level: each finest source's value per run."""
    first = runs[0].result
    same = all(
        r.result["spec"]["document"] == first["spec"]["document"]
        and r.result["spec"]["level"] == first["spec"]["level"]
        for r in runs
    )
    if not same:
        return None
    level = first["spec"]["level"]
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for run in runs:
        for i, s in enumerate(run.result["sources"]):
            if s["level"] == level:
                row = rows.setdefault((s["start"], s["end"]), {"text": source_text(run.result, i, 120)})
                row[run.name] = round(s["value"], 4)
    table = pd.DataFrame(list(rows.values()))
    names = [r.name for r in runs]
    return table.reindex(table[names].abs().max(axis=1).sort_values(ascending=False).index).head(20)


def compare_section(runs: Sequence[ComparedRun]) -> ReportSection:
    """Two to four document runs compared (a sentence when they cannot be)."""
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise WhyLMError(f"Compare two to {MAX_COMPARED} document runs.")
    sentences = []
    shared = shared_sources(runs)
    if shared is None:
        sentences.append(
            (
                "warning",
                "These runs attribute different documents (or levels): only their findings are "
                "set side by side.",
            )
        )
    tables = [("Runs", runs_table(runs))]
    if shared is not None:
        tables.append(("The sources with the largest values in any run", shared))
    return ReportSection(sentences=sentences, tables=tables)
