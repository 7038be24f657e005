"""Bias runs side by side: the same candidates' gaps with their intervals, and where the verdict changes.

Two to four saved bias runs (another wording of the template, other value lists,
another model) are lined up by candidate text (surrounding spaces ignored). Each
run is read by ``core.probes.bias.reading``, so a candidate's verdict here is the
one its own page shows. Nothing is recomputed.

This is the bias kind's compare rule; ``core.present.probe_compare`` dispatches to it.
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
from core.probes.bias.charts import candidate_labels, compared, level_words
from core.probes.bias.reading import FINDING, LIKELY, NO_EVIDENCE, verdict, verdict_of


@dataclass(frozen=True)
class BiasComparison:
    """Bias runs lined up by candidate.

    Attributes:
        runs: the compared runs, in the order given.
        candidates: the candidate labels every run has, in the first run's rank order.
        frame: one row per run x shared candidate: run, candidate, gap, ci_low, ci_high, p_holm,
            verdict (``reading.verdict``) and kind (finding / likely, add values / no evidence).
        missing: run name -> the candidates of other runs that this run lacks.
        changes: sentences naming the candidates whose verdict differs between runs.
        reasons: sentences saying why the gaps do not measure the same thing (empty if they do).
        notes: harmless differences (models, templates, group sizes).
    """

    runs: tuple[ComparedRun, ...]
    candidates: tuple[str, ...]
    frame: pd.DataFrame
    missing: dict[str, tuple[str, ...]]
    changes: tuple[str, ...] = field(default_factory=tuple)
    reasons: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def table(self) -> pd.DataFrame:
        """One row per shared candidate; per run its gap, interval, corrected p and verdict."""
        rows = []
        for candidate in self.candidates:
            row: dict[str, Any] = {"candidate": candidate}
            for run in self.runs:
                entry = self.frame[
                    (self.frame["run"] == run.name) & (self.frame["candidate"] == candidate)
                ].iloc[0]
                low, high = entry["ci_low"], entry["ci_high"]
                row[f"{run.name}: gap"] = entry["gap"]
                row[f"{run.name}: interval"] = (
                    "" if pd.isna(low) or pd.isna(high) else f"{low:.2f} to {high:.2f}"
                )
                row[f"{run.name}: corrected p"] = entry["p_holm"]
                row[f"{run.name}: verdict"] = entry["verdict"]
            rows.append(row)
        return pd.DataFrame(rows)


def _key(text: Any) -> str:
    return " ".join(str(text).split()) or str(text)


def _describe(result: dict[str, Any]) -> str:
    a, b = compared(result)
    return f"{a} minus {b}"


def compare(runs: Sequence[ComparedRun]) -> BiasComparison:
    """Line up two to four bias runs by candidate (a sentence as ``WhyLMError`` when they cannot be)."""
    runs = tuple(runs)
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise WhyLMError(f"Pick two to {MAX_COMPARED} runs to compare (you picked {len(runs)}).")
    for run in runs:
        if (
            not isinstance(run.result, dict)
            or run.result.get("kind") != "bias"
            or not run.result.get("candidates")
        ):
            raise WhyLMError(
                f"{run.name} ({run.title}) is not a finished bias run; pick bias runs to compare them."
            )
    per_run: dict[str, dict[str, dict[str, Any]]] = {}
    order: list[str] = []
    for run in runs:
        entries = sorted(run.result["candidates"], key=lambda e: e.get("rank") or 0)
        per_run[run.name] = {_key(e.get("text", "")): e for e in entries}
        order += [c for c in per_run[run.name] if c not in order]
    shared = tuple(c for c in order if all(c in per_run[r.name] for r in runs))
    missing = {run.name: tuple(c for c in order if c not in per_run[run.name]) for run in runs}
    rows = []
    for run in runs:
        for candidate in shared:
            entry = per_run[run.name][candidate]
            ci = (list(entry.get("gap_ci") or []) + [None, None])[:2]
            rows.append(
                {
                    "run": run.name,
                    "title": run.title,
                    "candidate": candidate,
                    "gap": finite_or_none(entry.get("gap")),
                    "ci_low": finite_or_none(ci[0]),
                    "ci_high": finite_or_none(ci[1]),
                    "p_holm": finite_or_none(entry.get("p_holm")),
                    "verdict": verdict(run.result, entry),
                    "kind": verdict_of(run.result, entry),
                }
            )
    frame = pd.DataFrame(
        rows, columns=["run", "title", "candidate", "gap", "ci_low", "ci_high", "p_holm", "verdict", "kind"]
    )
    changes = []
    for candidate in shared:
        verdicts = [(run.name, verdict(run.result, per_run[run.name][candidate])) for run in runs]
        if len({v for _, v in verdicts}) > 1:
            changes.append(
                f"\u2018{candidate}\u2019 changes verdict: "
                + "; ".join(f"{v} in {name}" for name, v in verdicts)
                + "."
            )
    reasons, notes = [], []
    first = runs[0]
    for other in runs[1:]:
        if _describe(first.result) != _describe(other.result):
            reasons.append(
                f"{first.name} measures {_describe(first.result)} and {other.name} {_describe(other.result)}: "
                "their gaps compare different groups."
            )
        if first.result.get("score") != other.result.get("score"):
            reasons.append(
                f"{first.name} and {other.name} compare different scores; their gaps differ in scale."
            )
    for run in runs:
        if missing[run.name] and shared:
            reasons.append(f"{run.name} lacks {_list(missing[run.name])}; only shared candidates are shown.")
    if not shared:
        reasons.append("The runs share no candidate, so there is nothing to line up.")
    models = list(
        dict.fromkeys(str((r.result.get("meta") or {}).get("model_name") or "unknown") for r in runs)
    )
    if len(models) > 1:
        notes.append(f"The runs use different models ({', '.join(models)}).")
    templates = list(dict.fromkeys(str((r.result.get("spec") or {}).get("template", "")) for r in runs))
    if len(templates) > 1:
        notes.append("The runs use different templates; a change of verdict may come from the wording.")
    return BiasComparison(runs, shared, frame, missing, tuple(changes), tuple(reasons), tuple(notes))


def _list(labels: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(f"\u2018{label}\u2019" for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def lead_sentence(comparison: BiasComparison) -> str:
    """How the runs agree, in one sentence: how many shared candidates keep their verdict."""
    n = len(comparison.candidates)
    changed = len(comparison.changes)
    if not n:
        return "The runs share no candidate."
    if not changed:
        return f"All {n} shared candidates keep their verdict in every run."
    return f"{changed} of the {n} shared candidates change verdict between the runs; the rest keep theirs."


KIND_SHAPES = {FINDING: "circle", LIKELY: "diamond", NO_EVIDENCE: "cross"}


def comparison_chart(comparison: BiasComparison, title: str | None = None) -> alt.LayerChart | None:
    """Each shared candidate's gap in every run, a dot with its interval, runs side by side (None: nothing shared)."""
    frame = comparison.frame.dropna(subset=["gap"])
    if frame.empty:
        return None
    names = [run.name for run in comparison.runs]
    labels = dict(zip(comparison.candidates, candidate_labels(list(comparison.candidates))))
    frame = frame.assign(label=[labels[c] for c in frame["candidate"]])
    y = alt.Y(
        "label:N",
        sort=[labels[c] for c in comparison.candidates],
        title=None,
        axis=category_axis(labelLimit=220),
    )
    offset = alt.YOffset("run:N", sort=names)
    colour = alt.Color("run:N", sort=names, legend=alt.Legend(title=None, orient="bottom"))
    tooltip = [
        alt.Tooltip("run:N", title="Run"),
        alt.Tooltip("title:N", title="Title"),
        alt.Tooltip("candidate:N", title="Candidate"),
        alt.Tooltip("verdict:N", title="Verdict"),
        alt.Tooltip("gap:Q", title="Gap", format=".3f"),
        alt.Tooltip("ci_low:Q", title="Interval low", format=".3f"),
        alt.Tooltip("ci_high:Q", title="Interval high", format=".3f"),
        alt.Tooltip("p_holm:Q", title="Corrected p", format=".3g"),
    ]
    base = alt.Chart(frame)
    bars = base.mark_rule(strokeWidth=2.5, opacity=0.6).encode(
        y=y, yOffset=offset, x="ci_low:Q", x2="ci_high:Q", color=colour, tooltip=tooltip
    )
    level = level_words(comparison.runs[0].result)
    dots = base.mark_point(size=80, filled=True, opacity=1).encode(
        y=y,
        yOffset=offset,
        x=alt.X("gap:Q", title=f"Gap ({_describe(comparison.runs[0].result)}), with its {level} interval"),
        color=colour,
        shape=alt.Shape(
            "kind:N",
            scale=alt.Scale(domain=list(KIND_SHAPES), range=list(KIND_SHAPES.values())),
            legend=alt.Legend(title="Verdict", orient="bottom"),
        ),
        tooltip=tooltip,
    )
    chart = alt.layer(zero_rule(), bars, dots).properties(height=alt.Step(14), width="container")
    return titled(chart, title)


def compare_section(runs: Sequence[ComparedRun]) -> ReportSection:
    """Two to four bias runs compared, as the page and the report show it (``RunKind.compare``)."""
    comparison = compare(runs)
    return ReportSection(
        sentences=comparison_sentences(lead_sentence(comparison), comparison.reasons, comparison.notes),
        bullets=list(comparison.changes),
        charts=[
            (
                "Gap per candidate, by run, with its interval: each dot is a candidate's gap in one run, the bar its "
                "confidence interval; the shape is the run's verdict (circle: finding; diamond: likely, add values; "
                "cross: no evidence).",
                comparison_chart(comparison),
            )
        ],
        tables=[("Per candidate, by run", comparison.table())],
    )
