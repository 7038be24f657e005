"""Drawing a bias result: summary in plain words, gap chart, score spread, slot attributions, numbers.

:func:`show_bias_result` only draws from the stored numbers (nothing is
recomputed), so the Bias associations page and Saved runs show a run the same
way. Every user or model text goes through ``escape_markdown`` or is drawn by
Vega / st.dataframe as plain text.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.probes.bias import charts as bias_charts
from core.probes.bias import reading, shares
from ui.shared.markdown import escape_markdown
from ui.shared.page_parts import json_and_csv_downloads
from ui.shared.tables import whole_table

SCALES = {"log_prob": "Log-probability", "prob": "Probability among the candidates"}


def show_bias_result(result: dict[str, Any], key: str) -> None:
    """Draw a bias result dict (``BiasResult.to_dict()`` or a stored one); widget keys start with ``key``."""
    a, b = bias_charts.compared(result)
    noun = bias_charts.value_noun(result)
    level = bias_charts.level_words(result)
    st.subheader("In plain words")
    _summary(result)
    st.caption(escape_markdown(bias_charts.CAUTION))

    st.subheader("Gap per candidate")
    st.caption(
        escape_markdown(
            f"Each dot is how much more likely the model makes the candidate with {a} {noun} than with "
            f"{b} {noun} (the mean {bias_charts.score_words(result)} with {a} minus with {b}); the bar "
            f"around it is the {level} confidence interval. Purple and orange mark findings; their light "
            "shades mark candidates that are likely but need more values (the interval is off zero, but this "
            "design's corrected p-value cannot fall below 0.05); grey marks no evidence (a bar that crosses "
            "the zero line means the data cannot tell the direction). Candidates are ranked by the size of "
            "the gap."
        )
    )
    gap = bias_charts.gap_chart(result)
    if gap is None:
        st.warning("No candidate has a gap to show (the groups' scores could not be compared).")
    else:
        st.altair_chart(gap, width="stretch", key=f"{key}_gap_chart")

    _distribution(result, key)
    _attribution(result, key, a, b)

    st.subheader("Per candidate")
    whole_table(bias_charts.reading_table(result), {"Gap": "%+.2f", "Corrected p": "%.3f"})
    st.caption(
        escape_markdown(
            f"Gap: {a} minus {b}, in {noun_score(result)}; interval: its {level} confidence interval; corrected p: "
            "the p-value corrected (Holm) for the number of candidates. Verdict: finding; likely, add values "
            "(interval off zero, but the design cannot reach significance); or no evidence."
        )
    )
    with st.expander("All the statistics: means, intervals, p-values, effect sizes, ratios"):
        st.caption(
            escape_markdown(
                f"Means are of the {bias_charts.score_words(result)} with {level} bootstrap intervals; the gap "
                f"is {a} minus {b}, tested by permutation (p-value), then Holm-corrected for the number of "
                f"candidates. The probability ratio is {a} over {b}, with probabilities renormalised over the "
                "candidates."
            )
        )
        odd = bias_charts.disagreement_sentence(result)
        if odd:
            st.caption(escape_markdown(odd))
        table = bias_charts.candidates_table(result)
        st.dataframe(table, hide_index=True, width="stretch", key=f"{key}_table")
        json_and_csv_downloads(
            result,
            key,
            "whylm-bias.json",
            "Candidates table (CSV)",
            bias_charts.candidates_csv(result),
            "whylm-bias-candidates.csv",
        )
        st.caption(escape_markdown(bias_charts.facts_sentence(result)))
    prompts = result.get("prompts") or []
    if prompts:
        with st.expander(f"The {len(prompts):,} prompts"):
            st.dataframe(
                [{"group": p.get("group", ""), "prompt": p.get("text", "")} for p in prompts],
                hide_index=True,
                width="stretch",
                key=f"{key}_prompts",
            )


def noun_score(result: dict[str, Any]) -> str:
    """The score's name for a column's help ("log-probability")."""
    return bias_charts.score_words(result)


def _small_groups(result: dict[str, Any]) -> str | None:
    """The warning for groups of fewer than 10 values (intervals too narrow, p-values coarse), or None."""
    a, b = bias_charts.compared(result)
    sizes = {str(g.get("name")): g.get("n_values") for g in result.get("groups") or [] if isinstance(g, dict)}
    counts = [sizes.get(a), sizes.get(b)]
    if not all(isinstance(n, int) for n in counts) or min(counts) >= 10:
        return None
    noun = bias_charts.value_noun(result)
    return (
        f"With fewer than 10 {noun} per group the bootstrap intervals run too narrow and the p-values are "
        "coarse; add values before drawing conclusions."
    )


def _summary(result: dict[str, Any]) -> None:
    """The lead sentence, the small-sample warning, then each finding and the non-findings (``reading``)."""
    lines = reading.reading_lines(result)
    power = reading.power_sentence(result)
    st.info(escape_markdown(lines[0]))
    if power:
        st.warning(escape_markdown(power))
    small = _small_groups(result)
    if small:
        st.warning(escape_markdown(small))
    rest = [line for line in lines[1:] if line != power]
    if rest:
        st.markdown("\n".join(f"- {escape_markdown(line)}" for line in rest))
    st.caption(escape_markdown(reading.SCORE_NOTE))


def _distribution(result: dict[str, Any], key: str) -> None:
    entries = sorted(result.get("candidates") or [], key=lambda e: e.get("rank") or 0)
    texts = [str(e.get("text", "")) for e in entries if e.get("log_probs")]
    if not texts:
        return
    st.subheader("Scores per group for one candidate")
    labels = dict(zip(texts, bias_charts.candidate_labels(texts)))
    cand_key, scale_key = f"{key}_candidate", f"{key}_scale"
    if st.session_state.get(cand_key) not in texts:
        st.session_state[cand_key] = texts[0]
    st.session_state.setdefault(scale_key, "log_prob")
    c1, c2 = st.columns([2, 3])
    text = c1.selectbox("Candidate", texts, format_func=labels.get, key=cand_key)
    scale = c2.radio("Scale", list(SCALES), format_func=SCALES.get, key=scale_key, horizontal=True)
    st.caption(
        "Each dot is one prompt (hover for its values); the box spans the middle half of the group, "
        "the whiskers the lowest and highest prompt. Boxes that overlap a lot mean a small or unclear gap."
    )
    chart = bias_charts.distribution_chart(result, text, scale)
    if chart is not None:
        st.altair_chart(chart, width="stretch", key=f"{key}_dist_chart")


def _attribution(result: dict[str, Any], key: str, a: str, b: str) -> None:
    """Which slot carries each gap: shares on the gap's scale with intervals, or "not estimated" (``shares``)."""
    if not (result.get("attribution") or {}).get("features"):
        return
    st.subheader("Which slot carries each gap")
    st.caption(escape_markdown(shares.caption(result)))
    missing = shares.not_estimated_sentence(result)
    if missing:
        st.warning(escape_markdown(missing))
    chart = bias_charts.attribution_chart(result)
    if chart is not None:
        st.altair_chart(chart, width="stretch", key=f"{key}_attr_chart")
