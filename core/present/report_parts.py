"""What a run kind puts in the HTML report: the page's sentences, charts and tables of its result.

The same section is what the dashboard draws for a kind without a view of its own
(``ui.shared.section_view``), and what a kind's compare rule returns for two to four runs.
"""

from __future__ import annotations

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
