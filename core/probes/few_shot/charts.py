"""Visual encodings of a few-shot result: altair charts, tables and plain sentences.

Every function takes a few-shot result as a plain dict (``FewShotResult.to_dict()``
or a stored result) and returns a chart, a table or text; nothing here talks
to streamlit, so the Few-shot prompts page and Saved runs draw the same
pictures from the same numbers.

Units: a Shapley value is a change in the probability of the right label
(renormalised over the label set); charts and tables show it in percentage
points (0.05 -> 5 points). Accuracies and probabilities are shown in percent.

Colour convention (shared with ``core.present.charts``): blue helps (raises the
probability of the right label), red hurts, white is no effect.

Example and query texts are user text: they only ever appear as data values
(drawn as text by Vega or st.dataframe), never as field names or markup.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from core.present.charts import (
    AGAINST_COLOR,
    TOWARD_COLOR,
    category_axis,
    column_label_angle,
    direction_color,
    diverging_color,
    finite_or_none,
    zero_rule,
)
from core.probes.few_shot.reading import all_examples, numbers, summary

NEUTRAL_COLOR = "#999999"
HELPS = "helps (raises the right label)"
HURTS = "hurts (lowers the right label)"
NO_EFFECT = "no effect"
POINTS = 100.0  # probability -> percentage points
LABEL_WIDTH = 42
VALUE_TITLE = "Change in right-label probability (points)"


# ---------------------------------------------------------------- small helpers


def short_text(text: Any, width: int = LABEL_WIDTH) -> str:
    """One line of at most ``width`` characters: whitespace collapsed, long text cut with "…"."""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1].rstrip() + "\u2026"


def example_label(entry: dict[str, Any]) -> str:
    """A readable, unique label for an example: "3. An absolute masterpiece… → negative"."""
    return f"{int(entry.get('index', 0)) + 1}. {short_text(entry.get('input', ''))} \u2192 {entry.get('label', '')}"


def query_label(entry: dict[str, Any]) -> str:
    """A readable, unique label for a query: "Q2. The acting was wooden… (negative)"."""
    return f"Q{int(entry.get('index', 0)) + 1}. {short_text(entry.get('input', ''))} ({entry.get('label', '')})"


def column_label(entry: dict[str, Any]) -> str:
    """A short, unique column label for a heatmap: "1. A warm, funny… → positive" or "Instruction"."""
    if "index" not in entry:
        return "Instruction"
    return f"{int(entry['index']) + 1}. {short_text(entry.get('input', ''), 20)} \u2192 {entry.get('label', '')}"


def feature_entries(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, entry) for each attributed feature: the examples in prompt order, then the instruction."""
    out = [(example_label(e), e) for e in result.get("examples") or []]
    instruction = result.get("instruction")
    if isinstance(instruction, dict):
        out.append((f"Instruction: {short_text(instruction.get('text', ''), LABEL_WIDTH - 13)}", instruction))
    return out


def direction(value: float | None) -> str:
    """Whether a Shapley value (in probability) helps, hurts or does nothing (under 0.05 points)."""
    if value is None or abs(value) * POINTS < 0.05:
        return NO_EFFECT
    return HELPS if value > 0 else HURTS


def n_queries(result: dict[str, Any]) -> int:
    """How many queries the run scored."""
    return len(result.get("queries") or [])


def right_of(accuracy: float | None, n: int) -> str:
    """An accuracy as a count of queries: "7 of 10"."""
    if accuracy is None:
        return "–"
    return f"{round(accuracy * n)} of {n}"


def _percent(value: Any) -> float | None:
    value = finite_or_none(value)
    return None if value is None else value * 100.0


# ---------------------------------------------------------------- frames and tables


def example_frame(result: dict[str, Any]) -> pd.DataFrame:
    """One row per feature (examples, then the instruction): Shapley value and spread, in points.

    Columns: feature, order, kind ("example" or "instruction"), input, label,
    shapley, std, low, high (shapley -/+ std), min, max (over queries),
    direction, prob_without (%), accuracy_without (%).
    """
    rows = []
    for order, (label, entry) in enumerate(feature_entries(result)):
        value = finite_or_none(entry.get("shapley"))
        spread = finite_or_none(entry.get("std")) or 0.0
        per_query = [v for v in (finite_or_none(x) for x in entry.get("per_query") or []) if v is not None]
        is_example = "index" in entry
        rows.append(
            {
                "feature": label,
                "order": order,
                "kind": "example" if is_example else "instruction",
                "input": str(entry.get("input", entry.get("text", ""))),
                "label": str(entry.get("label", "")) if is_example else "",
                "shapley": None if value is None else value * POINTS,
                "std": spread * POINTS,
                "low": None if value is None else (value - spread) * POINTS,
                "high": None if value is None else (value + spread) * POINTS,
                "min": min(per_query) * POINTS if per_query else None,
                "max": max(per_query) * POINTS if per_query else None,
                "direction": direction(value),
                "prob_without": _percent(entry.get("prob_without")),
                "accuracy_without": _percent(entry.get("accuracy_without")),
            }
        )
    columns = [
        "feature", "order", "kind", "input", "label", "shapley", "std", "low", "high", "min", "max",
        "direction", "prob_without", "accuracy_without",
    ]
    return pd.DataFrame(rows, columns=columns)


def heatmap_frame(result: dict[str, Any]) -> pd.DataFrame:
    """One row per (query, feature): the feature's Shapley value for that query, in points."""
    queries = result.get("queries") or []
    rows = []
    for col, (label, entry) in enumerate(feature_entries(result)):
        for q, value in enumerate(entry.get("per_query") or []):
            value = finite_or_none(value)
            if value is None or q >= len(queries):
                continue
            rows.append(
                {
                    "query": query_label(queries[q]),
                    "row": q,
                    "query text": str(queries[q].get("input", "")),
                    "expected": str(queries[q].get("label", "")),
                    "feature": label,
                    "column": column_label(entry),
                    "col": col,
                    "value": value * POINTS,
                }
            )
    columns = ["query", "row", "query text", "expected", "feature", "column", "col", "value"]
    return pd.DataFrame(rows, columns=columns)


def examples_table(result: dict[str, Any]) -> pd.DataFrame:
    """The per-example numbers as people read them (points and percent), in prompt order."""
    frame = example_frame(result)
    return pd.DataFrame(
        {
            "#": [str(int(e.get("index", 0)) + 1) if "index" in e else "instr." for _, e in feature_entries(result)],
            "example": frame["input"],
            "label": frame["label"],
            "Shapley value (points)": frame["shapley"],
            "spread across queries (points)": frame["std"],
            "effect": frame["direction"],
            "accuracy without it (%)": frame["accuracy_without"],
            "right-label probability without it (%)": frame["prob_without"],
        }
    )


def examples_csv(result: dict[str, Any]) -> str:
    """Per-example values as CSV (probability units, one column per query) for download."""
    rows = []
    for _, entry in feature_entries(result):
        is_example = "index" in entry
        row: dict[str, Any] = {
            "example": int(entry["index"]) + 1 if is_example else "instruction",
            "input": entry.get("input", entry.get("text", "")),
            "label": entry.get("label", "") if is_example else "",
            "shapley": entry.get("shapley"),
            "std_across_queries": entry.get("std"),
            "shapley_log_prob": entry.get("shapley_log_prob"),
            "prob_right_without": entry.get("prob_without"),
            "accuracy_without": entry.get("accuracy_without"),
        }
        for q, value in enumerate(entry.get("per_query") or []):
            row[f"query_{q + 1}"] = value
        rows.append(row)
    return pd.DataFrame(rows).to_csv(index=False)


def accuracy_table(result: dict[str, Any]) -> pd.DataFrame:
    """The accuracy table: zero-shot, all examples, each leave-one-out, best subset, order spread.

    Columns: prompt (in words), right (e.g. "7 of 10"), accuracy (%), and the
    mean probability of the right label (%) where the run has it.
    """
    acc = result.get("accuracy") or {}
    prob = result.get("mean_prob") or {}
    n = n_queries(result)
    examples = result.get("examples") or []
    rows: list[dict[str, Any]] = []

    def add(name: str, accuracy: Any, mean_prob: Any, average: bool = False) -> None:
        value = finite_or_none(accuracy)
        right = right_of(value, n)
        if average and value is not None:
            right = f"{value * n:.1f} of {n} on average"
        rows.append(
            {
                "prompt": name,
                "right": right,
                "accuracy (%)": _percent(value),
                "right-label probability (%)": _percent(mean_prob),
            }
        )

    add("Zero-shot (no examples)", acc.get("zero_shot"), prob.get("zero_shot"))
    add(all_examples(len(examples)), acc.get("all"), prob.get("all"))
    loo_acc = acc.get("leave_one_out") or []
    loo_prob = prob.get("leave_one_out") or []
    for i, entry in enumerate(examples):
        add(
            f"Without example {i + 1} ({short_text(entry.get('input', ''), 30)})",
            loo_acc[i] if i < len(loo_acc) else None,
            loo_prob[i] if i < len(loo_prob) else None,
        )
    if "without_instruction" in acc:
        add("All examples, without the instruction", acc.get("without_instruction"), prob.get("without_instruction"))
    add(f"Best subset ({subset_words(result)}), on the queries it was chosen on", acc.get("best_subset"),
        prob.get("best_subset"))
    check = result.get("subset_check")
    if isinstance(check, dict) and finite_or_none(check.get("accuracy")) is not None:
        add("Best subset, cross-validated (chosen without each query, tried on it)", check.get("accuracy"),
            check.get("mean_prob"))
    order = result.get("order_sensitivity") or {}
    if order.get("orders"):
        trials = len(order["orders"])
        order_probs = [v for v in (finite_or_none(x) for x in order.get("mean_prob") or []) if v is not None]
        mean_prob = sum(order_probs) / len(order_probs) if order_probs else None
        add(f"Order spread: mean over {trials} random orders", order.get("mean"), mean_prob, average=True)
        add("Order spread: worst order", order.get("min"), min(order_probs) if order_probs else None)
        add("Order spread: best order", order.get("max"), max(order_probs) if order_probs else None)
    return pd.DataFrame(rows, columns=["prompt", "right", "accuracy (%)", "right-label probability (%)"])


def queries_table(result: dict[str, Any]) -> pd.DataFrame:
    """Per query: expected label, the prediction and right-label probability zero-shot and with all examples."""
    rows = []
    for entry in result.get("queries") or []:
        rows.append(
            {
                "query": str(entry.get("input", "")),
                "expected": str(entry.get("label", "")),
                "zero-shot answer": str(entry.get("predicted_zero_shot", "")),
                "zero-shot probability (%)": _percent(entry.get("prob_zero_shot")),
                "answer with all examples": str(entry.get("predicted_all", "")),
                "probability with all examples (%)": _percent(entry.get("prob_all")),
                "answer with the best subset": str(entry.get("predicted_best_subset", "")),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- sentences


def subset_words(result: dict[str, Any]) -> str:
    """The best subset's example numbers in words: "examples 1, 2 and 4", "example 3" or "no examples"."""
    return numbers([int(i) for i in result.get("best_subset") or []])


def best_subset_sentence(result: dict[str, Any]) -> str:
    """The best subset named, with its accuracy and each chosen example's text."""
    examples = result.get("examples") or []
    chosen = [examples[i] for i in result.get("best_subset") or [] if 0 <= i < len(examples)]
    acc = finite_or_none((result.get("accuracy") or {}).get("best_subset"))
    prob = finite_or_none((result.get("mean_prob") or {}).get("best_subset"))
    head = f"Best subset: {subset_words(result)}"
    if acc is not None:
        head += f", {right_of(acc, n_queries(result))} queries right on the queries it was chosen on"
    if prob is not None:
        head += f" (right-label probability {prob * 100:.1f}%)"
    if not chosen:
        return head + ": the model does best with the instruction alone."
    return head + ": " + "; ".join(f"'{short_text(e.get('input', ''), 60)}' → {e.get('label', '')}" for e in chosen) + "."


def hurting_sentence(result: dict[str, Any]) -> str:
    """The examples that lower the right label's probability on average, named in one sentence."""
    hurt = [(label, e) for label, e in feature_entries(result) if direction(finite_or_none(e.get("shapley"))) == HURTS]
    if not hurt:
        return "No example lowers the probability of the right label on average."
    hurt.sort(key=lambda pair: float(pair[1]["shapley"]))
    parts = [
        (f"example {int(e['index']) + 1} ('{short_text(e.get('input', ''), 50)}', labelled {e.get('label', '')})"
         if "index" in e else "the instruction")
        + f" by {abs(float(e['shapley'])) * POINTS:.1f} points"
        for _, e in hurt
    ]
    verb = "lowers" if len(parts) == 1 else "lower"
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Hurting: {joined} {verb} the probability of the right label on average."


def method_words(result: dict[str, Any]) -> str:
    """How the Shapley values were computed, in words."""
    meta = result.get("meta") or {}
    nf = meta.get("n_features", len(feature_entries(result)))
    if meta.get("method") == "exact_shapley":
        return f"exact Shapley values (all {2 ** int(nf):,} subsets of the {nf} features, for every query)"
    samples = (result.get("spec") or {}).get("n_samples")
    return f"Shapley sampling ({samples} random orders of the features), an estimate"


# ---------------------------------------------------------------- charts


def example_bar_chart(result: dict[str, Any]) -> alt.LayerChart | None:
    """A bar per example (and the instruction): its mean Shapley value, helps blue / hurts red.

    The black error bar spans the mean minus and plus the spread across queries
    (standard deviation); the zero line separates helping from hurting. None
    when the result has no features.
    """
    frame = example_frame(result).dropna(subset=["shapley"])
    if frame.empty:
        return None
    features = list(frame["feature"])
    y = alt.Y("feature:N", sort=features, title=None, axis=category_axis(labelLimit=240))
    color = direction_color([HELPS, HURTS, NO_EFFECT], [TOWARD_COLOR, AGAINST_COLOR, NEUTRAL_COLOR])
    tooltip = [
        alt.Tooltip("input:N", title="Text"),
        alt.Tooltip("label:N", title="Label"),
        alt.Tooltip("shapley:Q", title="Shapley value (points)", format=".2f"),
        alt.Tooltip("std:Q", title="Spread across queries (points)", format=".2f"),
        alt.Tooltip("min:Q", title="Lowest query (points)", format=".2f"),
        alt.Tooltip("max:Q", title="Highest query (points)", format=".2f"),
        alt.Tooltip("accuracy_without:Q", title="Accuracy without it (%)", format=".0f"),
    ]
    base = alt.Chart(frame)
    bars = base.mark_bar().encode(x=alt.X("shapley:Q", title=VALUE_TITLE), y=y, color=color, tooltip=tooltip)
    spread = base.mark_errorbar(color="#222222", ticks=True, thickness=1.5).encode(
        x=alt.X("low:Q", title=VALUE_TITLE), x2="high:Q", y=y, tooltip=tooltip
    )
    return alt.layer(bars, spread, zero_rule()).properties(height=alt.Step(28), width="container")


def query_example_heatmap(result: dict[str, Any]) -> alt.Chart | None:
    """Queries (rows) x examples (columns): each example's Shapley value for each query.

    Colours are centred on zero on a symmetric scale (blue helps, red hurts,
    white nothing), so the same shade means the same size either way. None
    when there are no per-query values.
    """
    frame = heatmap_frame(result)
    if frame.empty:
        return None
    biggest = float(frame["value"].abs().max()) or 1.0
    columns = [column_label(entry) for _, entry in feature_entries(result)]
    queries = [query_label(q) for q in result.get("queries") or []]
    return (
        alt.Chart(frame)
        .mark_rect(stroke="#ffffff", strokeWidth=0.5)
        .encode(
            x=alt.X(
                "column:N",
                sort=columns,
                title="Example",
                axis=category_axis(labelAngle=column_label_angle(len(columns)), labelLimit=200),
            ),
            y=alt.Y("query:N", sort=queries, title=None, axis=category_axis(labelLimit=320)),
            color=diverging_color("value", biggest, "Points"),
            tooltip=[
                alt.Tooltip("query text:N", title="Query"),
                alt.Tooltip("expected:N", title="Right label"),
                alt.Tooltip("feature:N", title="Example"),
                alt.Tooltip("value:Q", title="Shapley value (points)", format=".2f"),
            ],
        )
        .properties(height=alt.Step(24), width="container")
    )


def export_frame(result: dict[str, Any]) -> pd.DataFrame:
    """The few-shot run's main tables for export, one after the other (the ``table`` column says which).

    ``examples`` rows: each example's (and the instruction's) value in probability units, its spread,
    whether it is in the best subset, and the accuracy and right-label probability without it;
    ``accuracy`` rows: the accuracy table as the page shows it (:func:`accuracy_table`).
    """
    best = {int(i) for i in result.get("best_subset") or []}
    rows: list[dict[str, Any]] = []
    for _, entry in feature_entries(result):
        is_example = "index" in entry
        rows.append(
            {
                "table": "examples",
                "example": int(entry["index"]) + 1 if is_example else "instruction",
                "input": entry.get("input", entry.get("text", "")),
                "label": entry.get("label", "") if is_example else "",
                "shapley": finite_or_none(entry.get("shapley")),
                "std_across_queries": finite_or_none(entry.get("std")),
                "effect": direction(finite_or_none(entry.get("shapley"))),
                "in_best_subset": (int(entry["index"]) in best) if is_example else "",
                "accuracy_without": finite_or_none(entry.get("accuracy_without")),
                "prob_right_without": finite_or_none(entry.get("prob_without")),
            }
        )
    for row in accuracy_table(result).to_dict("records"):
        rows.append(
            {
                "table": "accuracy",
                "prompt": row["prompt"],
                "right": row["right"],
                "accuracy": None if row["accuracy (%)"] is None else row["accuracy (%)"] / 100.0,
                "mean_prob_right": None
                if row["right-label probability (%)"] is None
                else row["right-label probability (%)"] / 100.0,
            }
        )
    columns = [
        "table", "example", "input", "label", "shapley", "std_across_queries", "effect", "in_best_subset",
        "accuracy_without", "prob_right_without", "prompt", "right", "accuracy", "mean_prob_right",
    ]
    return pd.DataFrame(rows, columns=columns)


def report_sentences(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The page's sentences for a report, as (css class, text): the summary, then the hurting examples."""
    out = [("summary", summary(result))]
    words = hurting_sentence(result)
    out.append(("warning" if words.startswith("Hurting") else "", words))
    return out
