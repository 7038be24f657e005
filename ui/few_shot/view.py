"""Drawing a few-shot result: findings in plain words, a bar per example, a query x example map, accuracy.

:func:`show_few_shot_result` only draws from the stored numbers (nothing is
recomputed, no model is needed), so the Few-shot prompts page and Saved runs
show a run the same way. Every user or model text goes through
``escape_markdown``, ``st.code`` or is drawn by Vega / st.dataframe as plain text.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import WhyLMError
from core.probes.few_shot import charts, reading
from core.probes.few_shot.spec import parse_few_shot_spec
from ui.shared.markdown import escape_markdown
from ui.shared.page_parts import json_and_csv_downloads
from ui.shared.tables import whole_table

PERCENT = st.column_config.NumberColumn(format="%.1f")


def show_few_shot_result(result: dict[str, Any], key: str) -> None:
    """Draw a few-shot result dict (``FewShotResult.to_dict()`` or a stored one); widget keys start with ``key``."""
    n_q = charts.n_queries(result)
    st.subheader("In plain words")
    summary = reading.summary(result) if result.get("examples") else str(result.get("summary") or "").strip()
    if summary:
        st.info(escape_markdown(summary))
    st.markdown(escape_markdown(charts.best_subset_sentence(result)))
    _use_subset_button(result, key)
    hurting = charts.hurting_sentence(result)
    if hurting.startswith("Hurting"):
        st.warning(escape_markdown(hurting))
    else:
        st.success(escape_markdown(hurting))

    st.subheader("Which examples help")
    st.caption(
        escape_markdown(
            "Each bar is how much the example raises (blue, to the right) or lowers (red, to the left) the "
            f"probability that the model answers the right label, averaged over the {n_q} queries, in "
            "percentage points; it is the example's Shapley value: its average effect when added to every "
            "possible subset of the other examples. The black whisker spans the spread across queries "
            f"(one standard deviation): a long whisker means it helps some queries and hurts others. "
            f"Computed with {charts.method_words(result)}."
        )
    )
    bars = charts.example_bar_chart(result)
    if bars is None:
        st.warning("This run has no per-example values to draw.")
    else:
        st.altair_chart(bars, width="stretch", key=f"{key}_bars")

    heatmap = charts.query_example_heatmap(result)
    if heatmap is not None:
        st.subheader("Example by query")
        st.caption(
            "Each cell is one example's Shapley value for one query (points). Blue: the example makes the "
            "right answer to that query more likely; red: less likely; white: no effect. The colour scale is "
            "the same size on both sides of zero."
        )
        st.altair_chart(heatmap, width="stretch", key=f"{key}_heatmap")

    st.subheader("Accuracy")
    st.caption(
        escape_markdown(
            f"How many of the {n_q} queries the model answers right (its most likely label is the expected "
            "one) with each prompt, and the mean probability it gives the right label (renormalised over the "
            "label set). Leaving out a helpful example lowers these; leaving out a hurting one raises them. "
            "The order spread is the same examples shuffled into random orders."
        )
    )
    whole_table(charts.accuracy_table(result), {"accuracy (%)": "%.1f", "right-label probability (%)": "%.1f"})

    st.subheader("Per example")
    whole_table(
        charts.examples_table(result),
        {
            "Shapley value (points)": "%+.2f",
            "spread across queries (points)": "%.2f",
            "accuracy without it (%)": "%.1f",
            "right-label probability without it (%)": "%.1f",
        },
    )
    json_and_csv_downloads(
        result,
        key,
        "whylm-few-shot.json",
        "Per-example values (CSV)",
        charts.examples_csv(result),
        "whylm-few-shot-examples.csv",
    )
    with st.expander("Answers per query"):
        st.dataframe(
            charts.queries_table(result),
            hide_index=True,
            width="stretch",
            key=f"{key}_queries",
            column_config={
                "zero-shot probability (%)": PERCENT,
                "probability with all examples (%)": PERCENT,
            },
        )
    _prompt(result)
    _notes(result)


def _prompt(result: dict[str, Any]) -> None:
    """The full prompt for the first query, as the model reads it (before any chat wrapping)."""
    try:
        spec = parse_few_shot_spec(result.get("spec") or {})
    except WhyLMError:
        return
    with st.expander("The prompt with all examples (first query)"):
        st.code(spec.user_text(range(len(spec.examples)), 0) + spec.label_text("…"), language=None)
        if spec.chat:
            st.caption("In chat mode this text is the user message of the model's chat template.")


def _notes(result: dict[str, Any]) -> None:
    notes = [str(n) for n in result.get("notes") or []]
    meta = result.get("meta") or {}
    with st.expander("How the numbers were computed"):
        if notes:
            st.markdown("\n".join(f"- {escape_markdown(n)}" for n in notes))
        facts = []
        if meta.get("model_name"):
            facts.append(f"model {meta['model_name']}")
        if meta.get("forward_passes") is not None:
            facts.append(f"{int(meta['forward_passes']):,} forward passes")
        if meta.get("seconds") is not None:
            facts.append(f"{float(meta['seconds']):,.1f} s")
        if facts:
            st.caption(escape_markdown("; ".join(facts) + "."))


def _use_subset(result: dict[str, Any]) -> None:
    """Button callback: fill the few-shot form with the run's spec, keeping only the best subset's examples."""
    from ui.few_shot.form import load_preset_state
    from ui.shared.links import forget_run_link

    spec = reading.subset_spec(result)
    if spec is None:
        return
    load_preset_state(spec, spec["title"])
    forget_run_link()
    st.session_state[USE_SUBSET_KEY] = True


USE_SUBSET_KEY = "fs_use_subset"


def _use_subset_button(result: dict[str, Any], key: str) -> None:
    """"Use this subset": the few-shot form, prefilled with the best subset's examples (on the Few-shot page)."""
    if reading.subset_spec(result) is None:
        return
    st.button(
        "Use this subset",
        key=f"{key}_use_subset",
        on_click=_use_subset,
        args=(result,),
        help="Fills the Few-shot prompts form with this run's settings and only the best subset's examples, "
        "to try it on other queries.",
    )
    if st.session_state.pop(USE_SUBSET_KEY, False):
        try:
            st.switch_page("pages/few_shot.py")
        except Exception:  # noqa: BLE001 - outside the app (a test) there is no page to switch to
            st.success("The Few-shot prompts form now holds the best subset's examples.")
