"""Between the few-shot form and a few-shot spec: the label box, the example and query tables, pasted lists.

Pure functions (no widgets). ``core.probes.few_shot.spec.load_pairs_csv`` reads the CSV itself.
"""

from __future__ import annotations

from typing import Any

from core.errors import SpecError
from core.probes.few_shot.spec import load_examples_csv, load_queries_csv
from ui.shared.page_parts import cell_text, spreadsheet_csv

COLUMNS = ["input", "label"]
TABLES = {"ex": "examples", "q": "queries"}
NOUNS = {"ex": ("example", "examples"), "q": ("query", "queries")}  # (one, many), for counted()


def labels_from_text(text: str) -> list[str]:
    """The label set typed as "positive, negative" (commas or new lines); blanks dropped."""
    parts = (text or "").replace("\n", ",").split(",")
    return [p.strip() for p in parts if p.strip()]


def text_from_labels(labels: list[str]) -> str:
    """The label box's text for a label set."""
    return ", ".join(labels)


def pairs_from_rows(rows: list[dict[str, Any]], field: str) -> list[dict[str, str]]:
    """Spec pairs from table rows; blank rows are skipped; raise SpecError for a half-filled row."""
    out = []
    for number, row in enumerate(rows, start=1):
        text, label = cell_text(row.get("input")), cell_text(row.get("label"))
        if not text and not label:
            continue
        if not label:
            raise SpecError(field, f"row {number} of the table has text but no label; write its label.")
        if not text:
            raise SpecError(field, f"row {number} of the table has a label but no text; write its text.")
        out.append({"input": text, "label": label})
    return out


def csv_text(text: str) -> str:
    """Pasted or uploaded text as CSV: tab-separated text (from a spreadsheet) becomes commas."""
    return spreadsheet_csv(text, commas_mean_csv=False)


def pairs_from_list_text(text: str, which: str) -> list[dict[str, str]]:
    """Examples (``which`` "ex") or queries ("q") from pasted or uploaded CSV text (header input,label)."""
    loader = load_examples_csv if which == "ex" else load_queries_csv
    if not text.strip():
        raise SpecError(TABLES[which], "there is nothing to read; paste a header line input,label and one row per item.")
    return loader(csv_text(text))
