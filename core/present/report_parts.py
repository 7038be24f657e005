"""What a run kind puts in the HTML report: the page's sentences, charts and tables of its result.

The same section is what the dashboard draws for a kind without a view of its own
(``ui.shared.section_view``), and what a kind's compare rule returns for two to four runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class ReportSection:
    """A result's part of the report, in the page's order.

    Attributes:
        sentences: (css class, text): "summary" for the lead, "warning", "muted" for a side note, or "" for
            plain text.
        bullets: a list of short lines after the sentences (what changed between compared runs).
        charts: (caption, Altair chart); a None chart is left out.
        tables: (caption, table).
    """

    sentences: list[tuple[str, str]] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    charts: list[tuple[str, Any]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


def comparison_sentences(lead: str, reasons: Iterable[str], notes: Iterable[str]) -> list[tuple[str, str]]:
    """A comparison's sentences for its ``ReportSection``: the lead, why the runs do not measure the same thing
    (warnings), and harmless differences (side notes)."""
    return [("summary", lead)] + [("warning", reason) for reason in reasons] + [("muted", note) for note in notes]
