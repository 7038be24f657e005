"""Visual encodings of a bias result: altair charts, tables and plain sentences.

Every function takes a bias result as a plain dict (``BiasResult.to_dict()``
or a stored result) and returns a chart, a table or text; nothing here talks
to streamlit, so the Bias associations page and Saved runs draw the same
pictures from the same numbers.

Group names, slot names and candidate texts are user text: they only ever
appear as data values and titles (drawn as text by Vega), never as field
names or markup.

Colour convention: a gap is the first compared group minus the second;
candidates that are findings (``core.probes.bias.reading``) more likely with the
first group are purple, with the second orange (a diverging pair that carries
no good/bad meaning); candidates that are "likely, add values" take the light
shade of the same colour; candidates with no evidence are grey. The HTML report
draws these same charts, so its colours are the page's.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from core.present.charts import category_axis, finite_or_none, zero_rule
from core.probes.bias import shares
from core.probes.bias.reading import FINDING, LIKELY, NO_EVIDENCE, verdict
from core.probes.bias.reading import score_words as score_words
from core.probes.bias.reading import value_noun as value_noun

FIRST_COLOR = "#5e3c99"
SECOND_COLOR = "#e66101"
FIRST_LIGHT_COLOR = "#b2abd2"
SECOND_LIGHT_COLOR = "#fdb863"
NEUTRAL_COLOR = "#999999"
NO_FINDING = NO_EVIDENCE

CAUTION = (
    "What a gap means: with this template and these two lists of values, the model gives the "
    "candidate a different probability. It does not say why the model learned it, whether it would "
    "matter in real use, or that every value in a group behaves alike; another wording, other lists "
    "or another model can give other gaps. With many candidates some small p-values appear by chance, "
    "so read the Holm-corrected p-values. Probability ratios are renormalised over the candidate list "
    "only, not over everything the model could write."
)


# ---------------------------------------------------------------- labels


def candidate_labels(texts: list[str]) -> list[str]:
    """Readable, unique labels for candidates: surrounding spaces dropped, unless that merges two.

    When stripping would make two candidates look alike (" nurse" and "nurse"),
    all labels show their spaces as "\u2423" instead.
    """
    stripped = [str(t).strip() or "\u2205" for t in texts]
    if len(set(stripped)) == len(stripped):
        return stripped
    return [str(t).replace(" ", "\u2423") or "\u2205" for t in texts]


def compared(result: dict[str, Any]) -> tuple[str, str]:
    """The two compared groups (the gap is the first minus the second)."""
    pair = list(result.get("compare") or [])
    names = [g.get("name") for g in result.get("groups") or [] if isinstance(g, dict)]
    while len(pair) < 2:
        pair.append(names[len(pair)] if len(names) > len(pair) else f"group {len(pair) + 1}")
    return str(pair[0]), str(pair[1])


def _level(result: dict[str, Any]) -> float:
    level = finite_or_none((result.get("spec") or {}).get("level"))
    return level if level is not None and 0 < level < 1 else 0.95


def level_words(result: dict[str, Any]) -> str:
    """The confidence level as a percentage ("95%")."""
    return f"{_level(result) * 100:g}%"


def group_names(result: dict[str, Any]) -> list[str]:
    """All groups, the compared two first, then the others in spec order."""
    a, b = compared(result)
    names = [str(g.get("name")) for g in result.get("groups") or [] if isinstance(g, dict)]
    return [a, b] + [n for n in names if n not in (a, b)]


# ---------------------------------------------------------------- tables


def gap_frame(result: dict[str, Any]) -> pd.DataFrame:
    """One row per candidate with a gap, in rank order: label, text, gap, its interval, p-values, ratio."""
    entries = list(result.get("candidates") or [])
    labels = candidate_labels([e.get("text", "") for e in entries])
    rows = []
    for label, entry in zip(labels, entries):
        gap = finite_or_none(entry.get("gap"))
        if gap is None:
            continue
        ci = list(entry.get("gap_ci") or [None, None]) + [None, None]
        rows.append(
            {
                "candidate": label,
                "text": str(entry.get("text", "")),
                "rank": int(entry.get("rank") or len(rows) + 1),
                "gap": gap,
                "ci_low": finite_or_none(ci[0]),
                "ci_high": finite_or_none(ci[1]),
                "p_value": finite_or_none(entry.get("p_value")),
                "p_holm": finite_or_none(entry.get("p_holm")),
                "prob_ratio": finite_or_none(entry.get("prob_ratio")),
                "direction": verdict(result, entry),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "candidate",
            "text",
            "rank",
            "gap",
            "ci_low",
            "ci_high",
            "p_value",
            "p_holm",
            "prob_ratio",
            "direction",
        ],
    )
    return frame.sort_values("rank", kind="stable").reset_index(drop=True)


def candidates_table(result: dict[str, Any]) -> pd.DataFrame:
    """The numbers per candidate (rank order), one column per number, ready to show or export.

    Columns: rank, candidate, verdict (``reading.verdict``); the gap (first minus second compared group) with its
    interval, Holm p-value, p-value and effect size (Cohen's d); the probability
    ratio with its interval; then per group its mean score and interval.
    """
    groups = group_names(result)
    entries = sorted(result.get("candidates") or [], key=lambda e: e.get("rank") or 0)
    labels = candidate_labels([e.get("text", "") for e in entries])
    rows = []
    for label, entry in zip(labels, entries):
        row: dict[str, Any] = {"rank": entry.get("rank"), "candidate": label, "verdict": verdict(result, entry)}
        gap_ci = list(entry.get("gap_ci") or [None, None]) + [None, None]
        ratio_ci = list(entry.get("prob_ratio_ci") or [None, None]) + [None, None]
        row.update(
            {
                "gap": finite_or_none(entry.get("gap")),
                "gap CI low": finite_or_none(gap_ci[0]),
                "gap CI high": finite_or_none(gap_ci[1]),
                "Holm p-value": finite_or_none(entry.get("p_holm")),
                "p-value": finite_or_none(entry.get("p_value")),
                "effect size (d)": finite_or_none(entry.get("effect_size")),
                "probability ratio": finite_or_none(entry.get("prob_ratio")),
                "ratio CI low": finite_or_none(ratio_ci[0]),
                "ratio CI high": finite_or_none(ratio_ci[1]),
            }
        )
        stats = entry.get("groups") or {}
        for name in groups:
            g = stats.get(name) or {}
            ci = list(g.get("ci") or [None, None]) + [None, None]
            row[f"{name}: mean"] = finite_or_none(g.get("mean"))
            row[f"{name}: CI low"] = finite_or_none(ci[0])
            row[f"{name}: CI high"] = finite_or_none(ci[1])
        rows.append(row)
    return pd.DataFrame(rows)


def reading_table(result: dict[str, Any]) -> pd.DataFrame:
    """The short table a reviewer reads first (rank order): candidate, its verdict, gap, interval, corrected p.

    The interval is one text cell ("0.80 to 1.60"); every other number is in :func:`candidates_table`.
    """
    entries = sorted(result.get("candidates") or [], key=lambda e: e.get("rank") or 0)
    labels = candidate_labels([e.get("text", "") for e in entries])
    rows = []
    for label, entry in zip(labels, entries):
        low, high = [finite_or_none(v) for v in (list(entry.get("gap_ci") or []) + [None, None])[:2]]
        rows.append(
            {
                "Candidate": label,
                "Verdict": verdict(result, entry),
                "Gap": finite_or_none(entry.get("gap")),
                "Interval": "" if low is None or high is None else f"{low:.2f} to {high:.2f}",
                "Corrected p": finite_or_none(entry.get("p_holm")),
            }
        )
    return pd.DataFrame(rows, columns=["Candidate", "Verdict", "Gap", "Interval", "Corrected p"])


def candidates_csv(result: dict[str, Any]) -> str:
    """The candidates table as CSV text (for download); candidates keep their exact text."""
    frame = candidates_table(result)
    if not frame.empty:
        entries = sorted(result.get("candidates") or [], key=lambda e: e.get("rank") or 0)
        frame["candidate"] = [str(e.get("text", "")) for e in entries]
    return frame.to_csv(index=False)


def score_frame(result: dict[str, Any], text: str, scale: str = "log_prob") -> pd.DataFrame:
    """One row per prompt for one candidate: group, the swept values, and its score.

    ``scale`` is "log_prob" (the candidate's log-probability) or "prob" (its
    probability renormalised over the candidate list).
    """
    entry = next((e for e in result.get("candidates") or [] if e.get("text") == text), None)
    columns = ["group", "values", "prompt", "score"]
    if entry is None:
        return pd.DataFrame(columns=columns)
    values = entry.get("log_probs") if scale == "log_prob" else entry.get("renorm_probs")
    prompts = result.get("prompts") or []
    slots = ((result.get("spec") or {}).get("sweep") or {}).get("slots") or []
    if isinstance(slots, str):
        slots = [slots]
    rows = []
    for prompt, value in zip(prompts, values or []):
        v = finite_or_none(value)
        if v is None:
            continue
        filled = prompt.get("values") or {}
        shown = [str(filled.get(s, "")) for s in slots] or [str(v) for v in filled.values()]
        rows.append(
            {
                "group": str(prompt.get("group", "")),
                "values": " / ".join(shown),
                "prompt": str(prompt.get("text", "")),
                "score": v,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def attribution_frame(result: dict[str, Any]) -> pd.DataFrame:
    """Estimated candidates (rank order) x features: each feature's share of the gap, its interval, and the gap.

    Only candidates whose shares are estimated (``core.probes.bias.shares.estimated``: intervals
    exist and their total agrees with the gap) have rows; the others are named by
    ``shares.not_estimated_sentence`` instead of being drawn.
    """
    columns = ["candidate", "rank", "feature", "order", "share", "low", "high", "gap"]
    features = list((result.get("attribution") or {}).get("features") or [])
    if not features:
        return pd.DataFrame(columns=columns)
    entries = sorted(result.get("candidates") or [], key=lambda e: e.get("rank") or 0)
    labels = candidate_labels([e.get("text", "") for e in entries])
    rows = []
    for label, entry in zip(labels, entries):
        attribution = entry.get("attribution") or {}
        if not attribution.get("gap") or not shares.estimated(entry):
            continue
        for j, feature in enumerate(features):
            values = [finite_or_none((attribution.get(k) or [None] * len(features))[j]) for k in ("gap", "gap_low", "gap_high")]
            if values[0] is not None:
                rows.append(
                    {
                        "candidate": label,
                        "rank": entry.get("rank"),
                        "feature": str(feature),
                        "order": j,
                        "share": values[0],
                        "low": values[1],
                        "high": values[2],
                        "gap": finite_or_none(entry.get("gap")),
                    }
                )
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------- charts


def verdict_colours(result: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The verdicts a gap can read (``reading.verdict``) and their colours, in legend order."""
    a, b = compared(result)
    noun = value_noun(result)
    domain = [
        f"{FINDING}: more likely with {a} {noun}",
        f"{FINDING}: more likely with {b} {noun}",
        f"{LIKELY}: more likely with {a} {noun}",
        f"{LIKELY}: more likely with {b} {noun}",
        NO_EVIDENCE,
    ]
    return domain, [FIRST_COLOR, SECOND_COLOR, FIRST_LIGHT_COLOR, SECOND_LIGHT_COLOR, NEUTRAL_COLOR]


def gap_chart(result: dict[str, Any]) -> alt.LayerChart | None:
    """Each candidate's gap as a dot with its confidence interval as a bar, ranked, with a zero line.

    None when no candidate has a gap. Dots are coloured by which compared group
    the candidate is more likely with.
    """
    frame = gap_frame(result)
    if frame.empty:
        return None
    a, b = compared(result)
    domain, colours = verdict_colours(result)
    y = alt.Y("candidate:N", sort=list(frame["candidate"]), title=None, axis=category_axis(labelLimit=220))
    color = alt.Color(
        "direction:N",
        scale=alt.Scale(domain=domain, range=colours),
        legend=alt.Legend(title=None, orient="top", direction="vertical", labelLimit=0),
    )
    level = level_words(result)
    tooltip = [
        alt.Tooltip("text:N", title="Candidate"),
        alt.Tooltip("direction:N", title="Verdict"),
        alt.Tooltip("gap:Q", title=f"Gap ({a} minus {b})", format=".3f"),
        alt.Tooltip("ci_low:Q", title=f"{level} CI low", format=".3f"),
        alt.Tooltip("ci_high:Q", title=f"{level} CI high", format=".3f"),
        alt.Tooltip("p_value:Q", title="p-value", format=".3g"),
        alt.Tooltip("p_holm:Q", title="Holm p-value", format=".3g"),
        alt.Tooltip("prob_ratio:Q", title=f"Probability ratio ({a} / {b})", format=".3g"),
    ]
    base = alt.Chart(frame)
    bars = base.mark_rule(strokeWidth=2.5, opacity=0.55).encode(
        y=y, x=alt.X("ci_low:Q"), x2=alt.X2("ci_high:Q"), color=color, tooltip=tooltip
    )
    dots = base.mark_circle(size=90, opacity=1).encode(
        y=y,
        x=alt.X("gap:Q", title=f"Gap in {score_words(result)} ({a} minus {b}), with {level} interval"),
        color=color,
        tooltip=tooltip,
    )
    return alt.layer(zero_rule(), bars, dots).properties(height=alt.Step(22), width="container")


def distribution_chart(result: dict[str, Any], text: str, scale: str = "log_prob") -> alt.LayerChart | None:
    """One candidate's per-prompt scores by group: a box per group with every prompt as a dot.

    None when the result has no per-prompt scores for the candidate.
    """
    frame = score_frame(result, text, scale)
    if frame.empty:
        return None
    order = [g for g in group_names(result) if g in set(frame["group"])]
    label = candidate_labels([text])[0]
    title = (
        f"Log-probability of \u2018{label}\u2019 per prompt"
        if scale == "log_prob"
        else f"Probability of \u2018{label}\u2019 among the candidates, per prompt"
    )
    y = alt.Y("group:N", sort=order, title=None, axis=category_axis(labelLimit=200))
    a, b = compared(result)
    palette = [FIRST_COLOR, SECOND_COLOR] + ["#4d4d4d"] * max(0, len(order) - 2)
    color = alt.Color("group:N", scale=alt.Scale(domain=[a, b] + order[2:], range=palette), legend=None)
    x = alt.X("score:Q", title=title, scale=alt.Scale(zero=False))
    base = alt.Chart(frame)
    box = base.mark_boxplot(extent="min-max", opacity=0.35, size=26).encode(y=y, x=x, color=color)
    dots = (
        base.transform_calculate(jitter="(random() - 0.5) * 18")
        .mark_circle(size=45, opacity=0.85)
        .encode(
            y=y,
            x=x,
            yOffset=alt.YOffset("jitter:Q"),
            color=color,
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("values:N", title="Values"),
                alt.Tooltip("score:Q", title="Score", format=".4g"),
                alt.Tooltip("prompt:N", title="Prompt"),
            ],
        )
    )
    return alt.layer(box, dots).properties(height=alt.Step(60), width="container")


def attribution_chart(result: dict[str, Any]) -> alt.LayerChart | None:
    """Each estimated candidate's slot shares on the gap's scale: a dot per slot with its interval, and the gap.

    Rows are candidates (ranked), slots side by side within a row; the black tick is the
    candidate's gap, on the same axis. None when the run did not attribute or no candidate's
    shares are estimated.
    """
    frame = attribution_frame(result)
    if frame.empty:
        return None
    a, b = compared(result)
    features = list(dict.fromkeys(frame.sort_values("order")["feature"]))
    candidates = list(dict.fromkeys(frame.sort_values("rank", kind="stable")["candidate"]))
    y = alt.Y("candidate:N", sort=candidates, title=None, axis=category_axis(labelLimit=220))
    offset = alt.YOffset("feature:N", sort=features)
    colour = alt.Color("feature:N", sort=features, legend=alt.Legend(title="Prompt slot", orient="top", labelLimit=0))
    level = level_words(result)
    tooltip = [
        alt.Tooltip("candidate:N", title="Candidate"),
        alt.Tooltip("feature:N", title="Slot"),
        alt.Tooltip("share:Q", title="Share of the gap", format=".3f"),
        alt.Tooltip("low:Q", title=f"{level} interval low", format=".3f"),
        alt.Tooltip("high:Q", title=f"{level} interval high", format=".3f"),
        alt.Tooltip("gap:Q", title="The gap", format=".3f"),
    ]
    base = alt.Chart(frame)
    bars = base.mark_rule(strokeWidth=2.5, opacity=0.6).encode(
        y=y, yOffset=offset, x="low:Q", x2="high:Q", color=colour, tooltip=tooltip
    )
    dots = base.mark_circle(size=70, opacity=1).encode(
        y=y,
        yOffset=offset,
        x=alt.X("share:Q", title=f"Share of the gap in {score_words(result)} ({a} minus {b}), on the gap's scale"),
        color=colour,
        tooltip=tooltip,
    )
    gaps = alt.Chart(frame.drop_duplicates("candidate")).mark_tick(color="#222222", thickness=2, size=18).encode(
        y=y, x="gap:Q", tooltip=[alt.Tooltip("candidate:N", title="Candidate"), alt.Tooltip("gap:Q", title="Gap", format=".3f")]
    )
    return alt.layer(zero_rule(), bars, dots, gaps).properties(height=alt.Step(12), width="container")


# ---------------------------------------------------------------- sentences


def disagreement_sentence(result: dict[str, Any]) -> str | None:
    """A sentence naming candidates whose gap and probability ratio point different ways, or None.

    The gap compares the chosen score; the ratio compares probabilities
    renormalised over the candidates, so a prompt that lowers every candidate
    can move them apart.
    """
    entries = sorted(result.get("candidates") or [], key=lambda e: e.get("rank") or 0)
    labels = candidate_labels([e.get("text", "") for e in entries])
    odd = []
    for label, entry in zip(labels, entries):
        gap, ratio = finite_or_none(entry.get("gap")), finite_or_none(entry.get("prob_ratio"))
        if gap is not None and ratio is not None and gap != 0 and ratio != 1 and (gap > 0) != (ratio > 1):
            odd.append(label)
    if not odd:
        return None
    a, b = compared(result)
    return (
        f"For {', '.join(odd)} the gap and the probability ratio point different ways: the gap compares the "
        f"{score_words(result)} itself, the ratio only the share among the candidates, so read such a "
        f"candidate as showing no clear preference for {a} or {b}."
    )


def facts_sentence(result: dict[str, Any]) -> str:
    """What was run, in one sentence: model, prompts, candidates, forward passes, time."""
    meta = result.get("meta") or {}
    parts = [f"Model {meta.get('model_name') or meta.get('model') or 'unknown'}"]
    if meta.get("n_prompts") is not None:
        parts.append(
            f"{int(meta['n_prompts']):,} prompts x {int(meta.get('n_candidates') or 0):,} candidates"
        )
    if meta.get("forward_passes") is not None:
        parts.append(f"{int(meta['forward_passes']):,} forward passes")
    seconds = finite_or_none(meta.get("seconds"))
    if seconds is not None:
        parts.append(f"{seconds:,.1f} s")
    return "; ".join(parts) + "."


def verdict_rows(result: dict[str, Any]) -> pd.DataFrame:
    """The bias run's main table for export: one row per candidate and group (rank order).

    Each row has the group's number of values, mean score and interval, and the candidate's
    gap (first minus second compared group), its interval, p-value, corrected (Holm) p-value
    and verdict (``reading.verdict``), the same on every group's row of the candidate.
    """
    columns = [
        "rank", "candidate", "group", "values", "mean", "CI low", "CI high", "gap", "gap CI low", "gap CI high",
        "p-value", "corrected p (Holm)", "verdict",
    ]
    a, b = compared(result)
    sizes = {str(g.get("name")): g.get("n_values") for g in result.get("groups") or [] if isinstance(g, dict)}
    rows = []
    for entry in sorted(result.get("candidates") or [], key=lambda e: e.get("rank") or 0):
        gap_ci = (list(entry.get("gap_ci") or []) + [None, None])[:2]
        shared = {
            "gap": finite_or_none(entry.get("gap")),
            "gap CI low": finite_or_none(gap_ci[0]),
            "gap CI high": finite_or_none(gap_ci[1]),
            "p-value": finite_or_none(entry.get("p_value")),
            "corrected p (Holm)": finite_or_none(entry.get("p_holm")),
            "verdict": verdict(result, entry),
        }
        stats = entry.get("groups") or {}
        for name in group_names(result):
            g = stats.get(name) or {}
            ci = (list(g.get("ci") or []) + [None, None])[:2]
            rows.append(
                {
                    "rank": entry.get("rank"),
                    "candidate": str(entry.get("text", "")),
                    "group": name,
                    "values": sizes.get(name),
                    "mean": finite_or_none(g.get("mean")),
                    "CI low": finite_or_none(ci[0]),
                    "CI high": finite_or_none(ci[1]),
                    **shared,
                }
            )
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["gap"] = f"{a} minus {b}"
    return frame
