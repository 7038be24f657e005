"""What a run kind puts in the HTML report: the page's sentences, charts and tables of its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class ReportSection:
    """A result's part of the report, in the page's order.

    Attributes:
        sentences: (css class, text): "summary" for the lead, "warning", or "" for plain text.
        charts: (caption, Altair chart); a None chart is left out.
        tables: (caption, table).
    """

    sentences: list[tuple[str, str]] = field(default_factory=list)
    charts: list[tuple[str, Any]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
