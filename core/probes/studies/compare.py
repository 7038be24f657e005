"""Two to four saved studies of the same items compared as one study run on their models.

The runs' items are lined up by their texts; their scores are read again under the first run's
settings (normalisation, resamples, level, seed), so the comparison is the one a single study of
those models would give (``core.probes.studies.run.analyse``). Nothing is scored again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.errors import WhyLMError
from core.present.compare import MAX_COMPARED, ComparedRun
from core.present.report_parts import ReportSection
from core.probes.studies.report import study_report
from core.probes.studies.run import analyse


def _key(item: dict[str, Any]) -> str:
    return json.dumps([item.get("contexts") or item.get("prompt"), item["options"]])


def combined(runs: Sequence[ComparedRun]) -> dict[str, Any]:
    """One study result holding every run's first model on the items all runs share."""
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise WhyLMError(f"Pick two to {MAX_COMPARED} studies to compare (you picked {len(runs)}).")
    for run in runs:
        if (
            not isinstance(run.result, dict)
            or run.result.get("kind") != "study"
            or not run.result.get("items")
        ):
            raise WhyLMError(
                f"{run.name} ({run.title}) is not a finished study; pick studies to compare them."
            )
    types = {run.result["item_type"] == "questions" for run in runs}
    if len(types) > 1:
        raise WhyLMError("Pairs and questions cannot be compared; pick studies of one item type.")
    first = runs[0].result
    index = [{_key(item): i for i, item in enumerate(run.result["items"])} for run in runs]
    shared = [i for i, item in enumerate(first["items"]) if all(_key(item) in idx for idx in index)]
    if not shared:
        raise WhyLMError("These studies share no item; compare studies of the same items.")
    items = [first["items"][i] for i in shared]
    scores, models = [], []
    for run, idx in zip(runs, index):
        rows = [idx[_key(item)] for item in items]
        scores.append({key: [run.result["scores"][0][key][r] for r in rows] for key in ("sums", "tokens")})
        models.append({**run.result["models"][0], "name": f"{run.name} ({run.result['models'][0]['name']})"})
    spec = first["spec"]
    tables, comparisons, summary = analyse(
        first["item_type"],
        items,
        [m["name"] for m in models],
        scores,
        spec.get("normalise", "sum"),
        spec.get("bootstrap", 1000),
        spec.get("level", 0.95),
        spec.get("seed", 0),
    )
    left = max(len(run.result["items"]) for run in runs) - len(items)
    if left:
        summary.append(f"{left} items are not in every study and are left out; {len(items)} are compared.")
    return {
        "kind": "study",
        "spec": spec,
        "item_type": first["item_type"],
        "models": models,
        "items": items,
        "scores": scores,
        "tables": tables,
        "comparisons": comparisons,
        "bad_rows": [],
        "summary": summary,
    }


def compare_section(runs: Sequence[ComparedRun]) -> ReportSection:
    """Two to four saved studies side by side, as one study of their models (``RunKind.compare``)."""
    return study_report(combined(runs))
