"""The CSV export of saved runs: each run's main table, whatever its kind.

One file holds the picked runs one after the other; every row starts with the
run's id, title and kind, then the columns of that kind's main table:

- attribution: one row per feature (feature, seq_attr);
- bias: one row per candidate and group, with the gap, its interval, the
  p-value, the corrected p-value and the verdict (``core.probes.bias.charts.verdict_rows``);
- few-shot: the examples' values, then the accuracy table (``core.probes.few_shot.charts.export_frame``);
- methods compared: one row per method (``core.present.method_comparison.methods_table``).

Columns that one kind lacks stay empty on its rows. A run without a result adds no rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.kinds import RUN_KINDS
from core.present.compare import ComparedRun
from core.present.probe_compare import result_kind

LEAD = ["run_id", "title", "kind"]


def _kind(result: dict[str, Any]) -> str:
    return result_kind(result) or ""


def run_table(run: ComparedRun) -> pd.DataFrame:
    """One run's main table with its run_id, title and kind in front (empty when it has none)."""
    kind = _kind(run.result or {})
    table = RUN_KINDS[kind].main_table if kind in RUN_KINDS else None
    if table is None:
        return pd.DataFrame(columns=LEAD)
    frame = table(run.result).copy()
    frame.insert(0, "kind", kind)
    frame.insert(0, "title", run.title)
    frame.insert(0, "run_id", run.run_id)
    return frame


def runs_csv(runs: Sequence[ComparedRun]) -> str:
    """CSV of every run's main table, one run after the other (see the module docstring)."""
    frames = [frame for frame in (run_table(run) for run in runs) if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=[*LEAD, "feature", "seq_attr"]).to_csv(index=False)
    return pd.concat(frames, ignore_index=True, sort=False).to_csv(index=False)
