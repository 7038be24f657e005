"""The attribution kind's main table for exports (the other kinds' live in their own folders)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def attribution_rows(result: dict[str, Any]) -> pd.DataFrame:
    """One row per feature: its label and its attribution to the whole output."""
    return pd.DataFrame(
        {"feature": [str(f) for f in result["features"]], "seq_attr": [float(v) for v in result["seq_attr"]]}
    )
