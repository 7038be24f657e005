"""A comparison of methods on one prompt (a ``compare`` result), as a table and side-by-side bars.

Functions take the result as a plain dict (``CompareResult.to_dict()`` or a stored one).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from core.attribution.comparison import most_faithful
from core.present.charts import axis_title, feature_axis, score_label, titled, zero_rule

TABLE_COLUMNS = {
    "method": "Method",
    "seconds": "Seconds",
    "forward_passes": "Forward passes (shared)",
    "alone_passes": "Forward passes (alone)",
    "aopc_deletion": "Deletion AOPC",
    "aopc_insertion": "Insertion AOPC",
    "gain_deletion": "Deletion AOPC minus random",
    "gain_insertion": "Insertion AOPC minus random",
    "spearman": "Spearman vs exact Shapley",
    "kendall": "Kendall vs exact Shapley",
}


def methods_table(result: dict[str, Any]) -> pd.DataFrame:
    """One row per method: time, forward passes, faithfulness areas and rank agreement with exact Shapley."""
    rows = result.get("rows") or []
    frame = pd.DataFrame(
        [{key: row.get(key) for key in TABLE_COLUMNS} for row in rows], columns=list(TABLE_COLUMNS)
    )
    return frame.rename(columns=TABLE_COLUMNS)


def faithful_sentence(result: dict[str, Any]) -> str:
    """The recommendation, made again from the stored rows (``most_faithful``: by gain over random orders).

    A result saved before its rows had gains over random keeps the sentence it was saved with.
    """
    rows = [r for r in result.get("rows") or [] if isinstance(r, dict)]
    if any(r.get("gain_deletion") is not None for r in rows):
        return most_faithful(rows)
    return str(result.get("sentence", ""))


def passes_sentence(result: dict[str, Any]) -> str:
    """The forward passes of the shared run beside the sum of the methods run one by one."""
    shared, alone = int(result.get("forward_passes_shared", 0)), int(result.get("forward_passes_alone", 0))
    return (
        f"Sharing one scorer, the methods took {shared:,} forward passes; run one by one they would take "
        f"{alone:,}."
    )


def methods_bar_chart(result: dict[str, Any], title: str | None = None) -> alt.LayerChart:
    """Each feature's attribution by every method, bars side by side (features in prompt order)."""
    features = list(result.get("features") or [])
    records = []
    for row, res in zip(result.get("rows") or [], result.get("results") or []):
        for feature, value in zip(features, res.get("seq_attr") or []):
            records.append({"feature": feature, "method": row["method"], "attribution": float(value)})
    frame = pd.DataFrame(records, columns=["feature", "method", "attribution"])
    first = (result.get("results") or [{}])[0]
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("attribution:Q", title=axis_title(score_label(first)) if first else "Attribution"),
            y=feature_axis(features),
            yOffset=alt.YOffset("method:N"),
            color=alt.Color("method:N", legend=alt.Legend(title=None, orient="bottom")),
            tooltip=[
                alt.Tooltip("method:N", title="Method"),
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("attribution:Q", title="Attribution", format=".4f"),
            ],
        )
    )
    # with an offset channel the step is one method's bar (Vega-Lite sizes the offset band), not one feature's row
    return titled(alt.layer(bars, zero_rule()).properties(height=alt.Step(9), width="container"), title)
