"""Few-shot runs side by side: each example's value in every run, and each run's accuracies.

Two to four saved few-shot runs (other queries, another model, another
instruction) are lined up by example (its input and label, spaces ignored);
accuracies are compared by prompt (zero-shot, all examples, the best subset on
its own queries and cross-validated). Nothing is recomputed.

This is the few-shot kind's compare rule; ``core.present.probe_compare`` dispatches to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd

from core.errors import WhyLMError
from core.present.charts import category_axis, finite_or_none, titled, zero_rule
from core.present.compare import MAX_COMPARED, ComparedRun
from core.present.report_parts import ReportSection, comparison_sentences
from core.probes.few_shot.charts import HELPS, HURTS, NO_EFFECT, POINTS, VALUE_TITLE, direction, short_text
from core.probes.few_shot.reading import n_queries, numbers, right

ACCURACY_ROWS = (
    ("zero_shot", "Zero-shot (no examples)"),
    ("all", "All examples"),
    ("best_subset", "Best subset, on the queries it was chosen on"),
)


@dataclass(frozen=True)
class FewShotComparison:
    """Few-shot runs lined up by example.

    Attributes:
        runs: the compared runs, in the order given.
        examples: the example keys ("input → label") every run has, in the first run's order.
        frame: one row per run x shared example: run, example, value (points), direction.
        accuracy: one row per prompt (zero-shot, all, best subset, cross-validated), per run "k of n".
        missing: run name -> the examples of other runs that this run lacks.
        changes: sentences naming examples that help in one run and hurt in another.
        reasons / notes: why the runs do not measure the same thing; harmless differences.
    """

    runs: tuple[ComparedRun, ...]
    examples: tuple[str, ...]
    frame: pd.DataFrame
    accuracy: pd.DataFrame
    missing: dict[str, tuple[str, ...]]
    changes: tuple[str, ...] = field(default_factory=tuple)
    reasons: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def table(self) -> pd.DataFrame:
        """One row per shared example; per run its value in points and whether it helps."""
        wide = self.frame.pivot(index="example", columns="run", values="value")
        out = pd.DataFrame({"example": list(self.examples)})
        for run in self.runs:
            out[f"{run.name}: value (points)"] = [wide.loc[e, run.name] for e in self.examples]
        return out


def _key(entry: dict[str, Any]) -> str:
    return f"{short_text(entry.get('input', ''), 60)} \u2192 {' '.join(str(entry.get('label', '')).split())}"


def _accuracy(runs: Sequence[ComparedRun]) -> pd.DataFrame:
    rows = []
    for key, words in ACCURACY_ROWS:
        row: dict[str, Any] = {"prompt": words}
        for run in runs:
            acc = (run.result.get("accuracy") or {}).get(key)
            prob = finite_or_none((run.result.get("mean_prob") or {}).get(key))
            cell = right(acc, n_queries(run.result))
            if key == "best_subset":
                cell += f" ({numbers(list(run.result.get('best_subset') or []))})"
            row[run.name] = cell + (f", {prob * 100:.1f}%" if prob is not None else "")
        rows.append(row)
    row = {"prompt": "Best subset, cross-validated (chosen without each query, tried on it)"}
    for run in runs:
        check = run.result.get("subset_check") or {}
        acc = finite_or_none(check.get("accuracy"))
        row[run.name] = (
            "not checked"
            if acc is None
            else (
                f"{right(acc, int(check.get('queries') or n_queries(run.result)))}, "
                f"{float(check.get('mean_prob') or 0) * 100:.1f}%"
            )
        )
    rows.append(row)
    return pd.DataFrame(rows)


def compare(runs: Sequence[ComparedRun]) -> FewShotComparison:
    """Line up two to four few-shot runs by example (a sentence as ``WhyLMError`` when they cannot be)."""
    runs = tuple(runs)
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise WhyLMError(f"Pick two to {MAX_COMPARED} runs to compare (you picked {len(runs)}).")
    for run in runs:
        if (
            not isinstance(run.result, dict)
            or run.result.get("kind") != "few_shot"
            or not run.result.get("examples")
        ):
            raise WhyLMError(
                f"{run.name} ({run.title}) is not a finished few-shot run; pick few-shot runs to compare them."
            )
    per_run: dict[str, dict[str, dict[str, Any]]] = {}
    order: list[str] = []
    for run in runs:
        per_run[run.name] = {_key(e): e for e in run.result["examples"]}
        order += [e for e in per_run[run.name] if e not in order]
    shared = tuple(e for e in order if all(e in per_run[r.name] for r in runs))
    missing = {run.name: tuple(e for e in order if e not in per_run[run.name]) for run in runs}
    rows = []
    for run in runs:
        for example in shared:
            value = finite_or_none(per_run[run.name][example].get("shapley"))
            rows.append(
                {
                    "run": run.name,
                    "title": run.title,
                    "example": example,
                    "value": None if value is None else value * POINTS,
                    "direction": direction(value),
                }
            )
    frame = pd.DataFrame(rows, columns=["run", "title", "example", "value", "direction"])
    changes = []
    for example in shared:
        ways = {
            run.name: direction(finite_or_none(per_run[run.name][example].get("shapley"))) for run in runs
        }
        if HELPS in ways.values() and HURTS in ways.values():
            helps = [n for n, w in ways.items() if w == HELPS]
            hurts = [n for n, w in ways.items() if w == HURTS]
            changes.append(
                f"\u2018{example}\u2019 helps in {', '.join(helps)} and hurts in {', '.join(hurts)}."
            )
    reasons, notes = [], []
    first = runs[0]
    for other in runs[1:]:
        if list(first.result.get("labels") or []) != list(other.result.get("labels") or []):
            reasons.append(
                f"{first.name} and {other.name} use different label sets; their values differ in meaning."
            )
        queries = [
            [(q.get("input"), q.get("label")) for q in r.result.get("queries") or []] for r in (first, other)
        ]
        if queries[0] != queries[1]:
            notes.append(f"{first.name} and {other.name} are scored on different queries.")
    for run in runs:
        if missing[run.name] and shared:
            reasons.append(
                f"{run.name} lacks {len(missing[run.name])} of the other runs' examples; only shared "
                "examples are shown."
            )
    if not shared:
        reasons.append("The runs share no example, so there is nothing to line up.")
    return FewShotComparison(
        runs, shared, frame, _accuracy(runs), missing, tuple(changes), tuple(reasons), tuple(notes)
    )


def lead_sentence(comparison: FewShotComparison) -> str:
    """How the runs agree on the examples, in one sentence."""
    n = len(comparison.examples)
    if not n:
        return "The runs share no example."
    if not comparison.changes:
        return f"None of the {n} shared examples helps in one run and hurts in another."
    return f"{len(comparison.changes)} of the {n} shared examples help in one run and hurt in another."


def comparison_chart(comparison: FewShotComparison, title: str | None = None) -> alt.LayerChart | None:
    """Each shared example's value in every run, bars side by side (None: nothing shared)."""
    frame = comparison.frame.dropna(subset=["value"])
    if frame.empty:
        return None
    names = [run.name for run in comparison.runs]
    y = alt.Y("example:N", sort=list(comparison.examples), title=None, axis=category_axis(labelLimit=360))
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=y,
            yOffset=alt.YOffset("run:N", sort=names),
            x=alt.X("value:Q", title=VALUE_TITLE),
            color=alt.Color("run:N", sort=names, legend=alt.Legend(title=None, orient="bottom")),
            opacity=alt.Opacity(
                "direction:N",
                scale=alt.Scale(domain=[HELPS, HURTS, NO_EFFECT], range=[1.0, 1.0, 0.35]),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("title:N", title="Title"),
                alt.Tooltip("example:N", title="Example"),
                alt.Tooltip("value:Q", title="Value (points)", format=".2f"),
                alt.Tooltip("direction:N", title="Effect"),
            ],
        )
    )
    return titled(alt.layer(bars, zero_rule()).properties(height=alt.Step(12), width="container"), title)


def compare_section(runs: Sequence[ComparedRun]) -> ReportSection:
    """Two to four few-shot runs compared, as the page and the report show it (``RunKind.compare``)."""
    comparison = compare(runs)
    return ReportSection(
        sentences=comparison_sentences(lead_sentence(comparison), comparison.reasons, comparison.notes),
        bullets=list(comparison.changes),
        charts=[("Each example's value, by run", comparison_chart(comparison))],
        tables=[("Accuracy, by run", comparison.accuracy), ("Per example, by run", comparison.table())],
    )
