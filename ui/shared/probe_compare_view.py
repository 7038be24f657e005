"""Saved runs' comparison of probe runs: bias runs by candidate, few-shot runs by example.

:func:`show_probe_comparison` draws the comparison when the picked runs are all of
one probe kind (``core.present.probe_compare``), or says why runs of different kinds
cannot be compared; it returns whether it drew anything, so the attribution
comparison is drawn otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.errors import WhyLMError
from core.present.compare import ComparedRun
from core.present.probe_compare import KIND_COMPARES, kinds_sentence, probe_kind, result_kind
from core.probes.bias import compare as bias_compare
from core.probes.few_shot import compare as few_shot_compare
from ui.shared.markdown import escape_markdown


def show_probe_comparison(runs: Sequence[ComparedRun]) -> bool:
    """Draw the comparison of probe runs (or why they cannot be compared); False for attribution runs."""
    kind = probe_kind(runs)
    if kind is None:
        kinds = {result_kind(run.result) for run in runs}
        if kinds & set(KIND_COMPARES):
            st.warning(escape_markdown(kinds_sentence(runs) or "These runs cannot be compared."))
            return True
        return False
    try:
        comparison = KIND_COMPARES[kind](runs)
    except WhyLMError as exc:
        st.warning(escape_markdown(str(exc)))
        return True
    if kind == "bias":
        _bias(comparison)
    else:
        _few_shot(comparison)
    return True


def _notes(comparison) -> None:
    if comparison.reasons:
        st.warning(escape_markdown(" ".join(comparison.reasons)))
    for note in comparison.notes:
        st.caption(escape_markdown(note))


def _bias(comparison: bias_compare.BiasComparison) -> None:
    st.info(escape_markdown(bias_compare.lead_sentence(comparison)))
    _notes(comparison)
    if comparison.changes:
        st.markdown("\n".join(f"- {escape_markdown(line)}" for line in comparison.changes))
    chart = bias_compare.comparison_chart(comparison, title="Gap per candidate, by run, with its interval")
    if chart is not None:
        st.caption(
            "Each dot is a candidate's gap in one run, the bar its confidence interval; the shape is the run's "
            "verdict (circle: finding; diamond: likely, add values; cross: no evidence)."
        )
        st.altair_chart(chart, width="stretch", key="sr_compare_bias_chart")
    st.dataframe(comparison.table(), hide_index=True, width="stretch", key="sr_compare_bias_table")


def _few_shot(comparison: few_shot_compare.FewShotComparison) -> None:
    st.info(escape_markdown(few_shot_compare.lead_sentence(comparison)))
    _notes(comparison)
    if comparison.changes:
        st.markdown("\n".join(f"- {escape_markdown(line)}" for line in comparison.changes))
    st.markdown("**Accuracy, by run**")
    st.dataframe(comparison.accuracy, hide_index=True, width="stretch", key="sr_compare_fs_accuracy")
    chart = few_shot_compare.comparison_chart(comparison, title="Each example's value, by run")
    if chart is not None:
        st.altair_chart(chart, width="stretch", key="sr_compare_fs_chart")
    st.dataframe(comparison.table(), hide_index=True, width="stretch", key="sr_compare_fs_table")
