"""Comparing saved attribution runs: each run's own chart, features aligned by their text, differences.

Everything here works on plain result dicts (``RunResult.to_dict()`` or a stored
result), so the Saved runs page, the HTML report and tests compare the same way.
Runs are aligned by each feature's *text* in the prompt (without the space a token
carries; a text that occurs twice in one run is numbered, "the (2)"), not by
position or spelling, so two runs with the same slots in a different order, or
the same prompt cut into words on one page and tokens on another, still line up.
:func:`small_multiples` draws every run's own picture on one scale, whatever its
prompt; :func:`rank_agreement` says how alike runs of one prompt rank their features.
Nothing is recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd

from core.attribution.result import RunResult
from core.errors import WhyLMError
from core.present.charts import AGAINST_COLOR, TOWARD_COLOR, feature_axis, titled, zero_rule
from core.text import unique_labels

MAX_COMPARED = 4


@dataclass(frozen=True)
class ComparedRun:
    """One run taking part in a comparison.

    Attributes:
        run_id: the saved run's id (or any number that names it).
        title: the run's title.
        result: the stored result dict (an attribution result).
    """

    run_id: int
    title: str
    result: dict[str, Any]

    @property
    def name(self) -> str:
        """A short unique name for legends and tables: "Run 12"."""
        return f"Run {self.run_id}"


@dataclass(frozen=True)
class Comparison:
    """Runs aligned by feature label.

    Attributes:
        runs: the compared runs, in the order given (the first is "A").
        labels: the labels every run has, in the first run's order.
        values: run name -> label -> sequence attribution (shared labels only).
        missing: run name -> the labels of other runs that this run lacks.
        reasons: sentences saying why the runs are not strictly comparable (empty if they are).
        notes: sentences about harmless differences (methods, models).
    """

    runs: tuple[ComparedRun, ...]
    labels: tuple[str, ...]
    values: dict[str, dict[str, float]]
    missing: dict[str, tuple[str, ...]]
    reasons: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def comparable(self) -> bool:
        """Whether the runs explain the same output with the same features and score."""
        return not self.reasons

    def long_frame(self) -> pd.DataFrame:
        """One row per run x shared label: run, title, feature, order, seq_attr."""
        rows = [
            {
                "run": run.name,
                "run_id": run.run_id,
                "title": run.title,
                "feature": label,
                "order": i,
                "seq_attr": self.values[run.name][label],
            }
            for run in self.runs
            for i, label in enumerate(self.labels)
        ]
        return pd.DataFrame(rows, columns=["run", "run_id", "title", "feature", "order", "seq_attr"])

    def wide_frame(self) -> pd.DataFrame:
        """One row per shared label, one column per run (and "B − A" when there are two runs)."""
        frame = pd.DataFrame({"feature": list(self.labels)})
        for run in self.runs:
            frame[run.name] = [self.values[run.name][label] for label in self.labels]
        if len(self.runs) == 2:
            frame[difference_label(self)] = differences(self)
        return frame


def is_attribution_result(result: Any) -> bool:
    """Whether ``result`` has one attribution per feature (features and seq_attr of equal length)."""
    if not isinstance(result, dict):
        return False
    features, values = result.get("features"), result.get("seq_attr")
    return isinstance(features, list) and isinstance(values, list) and len(features) == len(values) > 0


def _quoted(labels: Sequence[str], limit: int = 6) -> str:
    """Labels as a readable list: 'a', 'b' and 3 more."""
    shown = ", ".join(f"\u2018{label}\u2019" for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _pair_reasons(a: ComparedRun, b: ComparedRun) -> list[str]:
    """Why ``b`` cannot be compared with ``a`` (RunResult.matches, or the same checks on partial dicts)."""
    try:
        return RunResult.from_dict(a.result).matches(RunResult.from_dict(b.result))
    except (WhyLMError, TypeError):
        reasons = []
        if list(a.result.get("features") or []) != list(b.result.get("features") or []):
            reasons.append("their features differ")
        ta, tb = a.result.get("target") or {}, b.result.get("target") or {}
        if ta.get("ids") != tb.get("ids") or ta.get("contrast_ids") != tb.get("contrast_ids"):
            reasons.append("their targets differ")
        if (a.result.get("spec") or {}).get("score") != (b.result.get("spec") or {}).get("score"):
            reasons.append("one scores log-probability and the other probability")
        return reasons


def _distinct(runs: Sequence[ComparedRun], key: str) -> list[str]:
    """The distinct values of ``meta[key]`` over the runs, in order of appearance."""
    seen: dict[str, None] = {}
    for run in runs:
        value = (run.result.get("meta") or {}).get(key)
        seen.setdefault(str(value) if value is not None else "unknown", None)
    return list(seen)


def compare_runs(runs: Sequence[ComparedRun]) -> Comparison:
    """Align two to four attribution runs by feature label and say whether they are comparable.

    Raises WhyLMError (a sentence) for fewer than two or more than four runs, or for a
    run whose result has no per-feature attribution (a failed run, a bias or few-shot probe).
    """
    runs = tuple(runs)
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise WhyLMError(f"Pick two to {MAX_COMPARED} runs to compare (you picked {len(runs)}).")
    for run in runs:
        if not is_attribution_result(run.result):
            raise WhyLMError(
                f"{run.name} ({run.title}) has no attribution per feature to compare (it failed, was stopped, "
                "or is another kind of run); pick attribution runs, or runs of one probe kind."
            )
    per_run: dict[str, dict[str, float]] = {}
    order: list[str] = []
    for run in runs:
        labels = aligned_labels(run.result["features"])
        per_run[run.name] = {label: float(v) for label, v in zip(labels, run.result["seq_attr"])}
        order += [label for label in labels if label not in order]
    shared = tuple(label for label in order if all(label in per_run[r.name] for r in runs))
    missing = {run.name: tuple(label for label in order if label not in per_run[run.name]) for run in runs}
    reasons: list[str] = []
    first = runs[0]
    notes = []
    for other in runs[1:]:
        why = _pair_reasons(first, other)
        if "their features differ" in why and per_run[first.name].keys() == per_run[other.name].keys():
            why.remove("their features differ")
            notes.append(
                f"{other.name} has the same features as {first.name}, in another order or with other spaces (a "
                "token keeps its leading space); they are aligned by their text in the prompt."
            )
        if why:
            reasons.append(f"{first.name} and {other.name} cannot be compared strictly: {' and '.join(why)}.")
    if any(missing.values()):
        if shared:
            for run in runs:
                if missing[run.name]:
                    reasons.append(
                        f"{run.name} lacks {_quoted(missing[run.name])}; only shared features are shown."
                    )
        else:
            reasons.append("The runs share no feature labels, so there is nothing to line up.")
    methods = _distinct(runs, "method")
    if len(methods) > 1:
        notes.append(
            f"The runs use different methods ({', '.join(methods)}); their numbers can differ in scale."
        )
    models = _distinct(runs, "model_name")
    if len(models) > 1:
        notes.append(f"The runs use different models ({', '.join(models)}).")
    return Comparison(
        runs=runs,
        labels=shared,
        values={name: {label: vals[label] for label in shared} for name, vals in per_run.items()},
        missing=missing,
        reasons=tuple(reasons),
        notes=tuple(notes),
    )


def aligned_labels(features: Sequence[Any]) -> list[str]:
    """The labels runs are aligned by: each feature's text in the prompt without surrounding spaces,
    numbered by occurrence ("the", "the (2)").

    So a word ("doctor" on Explain a prompt) and a token (" doctor" on Token gradients) of the
    same prompt line up, and a repeated word lines up with the same occurrence in the other run.
    """
    return unique_labels([" ".join(str(f).split()) or str(f) for f in features])


def rank_agreement(comparison: Comparison) -> list[tuple[str, str, float]]:
    """Spearman's rank correlation of every pair of runs over their shared features: (run, run, rho).

    Only for runs whose features all line up (the same prompt); empty otherwise or with fewer than
    three shared features. 1 means the runs rank the features the same, 0 unrelated, -1 reversed.
    """
    if len(comparison.labels) < 3 or any(comparison.missing.values()):
        return []
    ranks = {
        run.name: pd.Series([comparison.values[run.name][label] for label in comparison.labels]).rank()
        for run in comparison.runs
    }
    out = []
    for i, a in enumerate(comparison.runs):
        for b in comparison.runs[i + 1 :]:
            rho = ranks[a.name].corr(ranks[b.name])
            out.append((a.name, b.name, float(rho) if pd.notna(rho) else 0.0))
    return out


def agreement_sentence(name_a: str, name_b: str, rho: float) -> str:
    """A rank correlation in words: "Run 3 and Run 5 rank the features much the same way (rank agreement 0.83)."."""
    if rho >= 0.8:
        words = "rank the features much the same way"
    elif rho >= 0.4:
        words = "rank the features somewhat alike"
    elif rho > -0.4:
        words = "rank the features differently"
    else:
        words = "rank the features in nearly opposite order"
    return f"{name_a} and {name_b} {words} (rank agreement {rho:+.2f}, from +1 the same to −1 reversed)."


def small_multiples(runs: Sequence[ComparedRun]) -> list[alt.Chart]:
    """Each attribution run's own bar chart, all on one horizontal scale (whatever their prompts)."""
    shown = [run for run in runs if is_attribution_result(run.result)]
    biggest = max((abs(float(v)) for run in shown for v in run.result["seq_attr"]), default=0.0) or 1.0
    charts = []
    for run in shown:
        labels = unique_labels([str(f) for f in run.result["features"]])
        values = [float(v) for v in run.result["seq_attr"]]
        frame = pd.DataFrame(
            {
                "feature": labels,
                "attribution": values,
                "direction": ["toward" if v > 0 else "against" if v < 0 else "none" for v in values],
            }
        )
        bars = (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                y=feature_axis(labels),
                x=alt.X("attribution:Q", title="Attribution", scale=alt.Scale(domain=[-biggest, biggest])),
                color=alt.Color(
                    "direction:N",
                    scale=alt.Scale(
                        domain=["toward", "against", "none"], range=[TOWARD_COLOR, AGAINST_COLOR, "#999999"]
                    ),
                    legend=None,
                ),
                tooltip=[
                    alt.Tooltip("feature:N", title="Feature"),
                    alt.Tooltip("attribution:Q", title="Attribution", format=".4f"),
                ],
            )
        )
        chart = alt.layer(bars, zero_rule()).properties(height=alt.Step(20), width="container")
        charts.append(titled(chart, f"{run.name}: {run.title[:40]}"))
    return charts


def difference_label(comparison: Comparison) -> str:
    """The column name of the difference between two runs: "Run 7 − Run 3"."""
    a, b = comparison.runs[0], comparison.runs[1]
    return f"{b.name} \u2212 {a.name}"


def differences(comparison: Comparison) -> list[float]:
    """Second run minus first run, per shared label (exactly two runs)."""
    if len(comparison.runs) != 2:
        raise WhyLMError("A difference needs exactly two runs.")
    a, b = (comparison.values[r.name] for r in comparison.runs)
    return [b[label] - a[label] for label in comparison.labels]


def grouped_bar_chart(comparison: Comparison, title: str | None = None) -> alt.Chart:
    """Bars of each shared feature's attribution, one bar per run, features in the first run's order."""
    frame = comparison.long_frame()
    names = [run.name for run in comparison.runs]
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=feature_axis(comparison.labels),
            yOffset=alt.YOffset("run:N", sort=names),
            x=alt.X("seq_attr:Q", title="Attribution (effect on the target's score)"),
            color=alt.Color("run:N", sort=names, legend=alt.Legend(title=None, orient="bottom")),
            tooltip=[
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("title:N", title="Title"),
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("seq_attr:Q", title="Attribution", format=".4f"),
            ],
        )
        .properties(height=alt.Step(16), width="container")
    )
    return titled(chart, title)


def difference_chart(comparison: Comparison, title: str | None = None) -> alt.LayerChart:
    """Bars of (second run − first run) per shared feature, with a zero line (exactly two runs)."""
    values = differences(comparison)
    label = difference_label(comparison)
    frame = pd.DataFrame(
        {
            "feature": list(comparison.labels),
            "difference": values,
            "direction": [
                f"higher in {comparison.runs[1].name}"
                if v > 0
                else f"higher in {comparison.runs[0].name}"
                if v < 0
                else "same"
                for v in values
            ],
        }
    )
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=feature_axis(comparison.labels),
            x=alt.X("difference:Q", title=label),
            color=alt.Color("direction:N", legend=alt.Legend(title=None, orient="bottom")),
            tooltip=[
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("difference:Q", title=label, format=".4f"),
            ],
        )
    )
    return titled(alt.layer(bars, zero_rule()).properties(height=alt.Step(26), width="container"), title)


def runs_csv(runs: Sequence[ComparedRun]) -> str:
    """CSV with one row per run x feature: run_id, title, feature, seq_attr (runs without attribution skipped)."""
    rows = [
        {"run_id": run.run_id, "title": run.title, "feature": feature, "seq_attr": float(value)}
        for run in runs
        if is_attribution_result(run.result)
        for feature, value in zip(run.result["features"], run.result["seq_attr"])
    ]
    return pd.DataFrame(rows, columns=["run_id", "title", "feature", "seq_attr"]).to_csv(index=False)
