"""The result view shared by every page that shows an attribution result (including Saved runs).

:func:`show_result` takes a plain result dict (``RunResult.to_dict()`` or a
stored result) and draws: a one-sentence summary, the target's score in plain
words, the prompt highlighted by attribution (for the whole output or a span
of output tokens), the bar chart per feature, the output-token x feature
heatmap, a numbers table, and downloads (JSON, CSV, PNG). Display options are
widgets keyed by ``key``; changing them never recomputes anything.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.present import charts
from core.present.highlight import legend_html, result_highlight_html
from ui.common import escape_markdown
from ui.page_parts import csv_download, download, json_download

LEVEL_LABELS = {"tokens": "Tokens", "words": "Words"}


def show_result(result: dict[str, Any], key: str, title: str | None = None) -> None:
    """Draw one attribution result; ``key`` keeps this view's widgets apart from others on the page.

    Works for perturbation and gradient results alike: a result whose
    ``extra["token_level"]`` holds token-level data gets a Words/Tokens
    toggle, and integrated-gradients results show their completeness gap.
    """
    if title:
        st.subheader(title)
    view = result
    if charts.has_token_level(result):
        st.session_state.setdefault(f"{key}_level", "tokens")
        level = st.radio(
            "Show the prompt as",
            list(LEVEL_LABELS),
            format_func=LEVEL_LABELS.get,
            horizontal=True,
            key=f"{key}_level",
            help="Words sums the tokens of each word; Tokens shows every prompt token on its own. "
            "Both come from the same run; nothing is recomputed.",
        )
        view = charts.at_level(result, level)

    span = _pick_span(view, key)
    values = charts.span_attribution(view, span)
    span_words = "the whole output" if span is None else _span_words(view, span)

    st.info(escape_markdown(charts.summary_sentence(view, values)))
    target = result.get("target") or {}
    label = "Generated output" if target.get("generated") else "Explained output"
    st.markdown(f"**{label}:** {escape_markdown(repr(target.get('text', ''))[1:-1])}")
    if target.get("contrast"):
        st.markdown(f"**Alternative (contrast):** {escape_markdown(repr(target['contrast'])[1:-1])}")
    for sentence in charts.score_sentences(result):
        st.markdown("- " + escape_markdown(sentence))
    _show_completeness(result)

    st.markdown(f"**The prompt, coloured by each part's effect on {escape_markdown(span_words)}**")
    st.html(result_highlight_html(view, values))
    st.html(legend_html())

    left, right = st.columns(2)
    bar = charts.sequence_bar_chart(view, values, title=f"Effect on {span_words}")
    with left:
        st.altair_chart(bar, width="stretch")
    heat = charts.token_heatmap(view, title="Effect on each output token")
    with right:
        if heat is not None:
            st.altair_chart(heat, width="stretch")
        else:
            st.caption("This method gives no per-token attributions.")

    with st.expander("Numbers"):
        st.dataframe(charts.attribution_table(view), hide_index=True, key=f"{key}_table")
        meta = result.get("meta") or {}
        st.caption(
            f"Model: {meta.get('model_name', '?')} · method: {meta.get('method', '?')} · "
            f"forward passes: {meta.get('forward_passes', '?')} · {meta.get('seconds', 0):.1f} s · "
            f"WhyLM {meta.get('version', '?')}"
        )
    _downloads(result, view, bar, heat, key)


def _pick_span(result: dict[str, Any], key: str) -> tuple[int, int] | None:
    """Whole output, or a span of output tokens chosen with a range slider."""
    tokens = result.get("output_tokens") or []
    if not result.get("token_attr") or len(tokens) < 2:
        return None
    whole = st.toggle("Whole output", value=True, key=f"{key}_whole", help="Turn off to pick output tokens.")
    if whole:
        return None
    labels = charts.output_labels(result)
    first, last = st.select_slider(
        "Output tokens to explain",
        options=list(range(len(labels))),
        value=(0, 0),
        format_func=lambda i: labels[i],
        key=f"{key}_span",
    )
    return (min(first, last), max(first, last))


def _span_words(result: dict[str, Any], span: tuple[int, int]) -> str:
    tokens = result.get("output_tokens") or []
    text = "".join(tokens[span[0] : span[1] + 1])
    if span[0] == span[1]:
        return f"output token {span[0] + 1} ({text.strip() or repr(text)})"
    return f"output tokens {span[0] + 1}–{span[1] + 1} ({' '.join(text.split())})"


def _show_completeness(result: dict[str, Any]) -> None:
    """For integrated gradients: how far the attributions' sum is from the score difference."""
    info = (result.get("extra") or {}).get("completeness")
    if not isinstance(info, dict) or not isinstance(info.get("sequence"), dict):
        return
    seq = info["sequence"]
    sentence = (
        f"Completeness gap: {float(seq.get('gap', 0.0)):+.4g} ({float(seq.get('relative', 0.0)):.1%} of the "
        f"score difference {float(seq.get('difference', 0.0)):.4g}). Integrated gradients should add up to "
        "the score with the prompt minus the score with the baseline; the gap is the integration error "
        "(more steps shrink it)."
    )
    if float(seq.get("relative", 0.0)) > 0.05:
        st.warning(escape_markdown(sentence + " This gap is large: read the numbers with care or add steps."))
    else:
        st.markdown("- " + escape_markdown(sentence))


def _downloads(result: dict[str, Any], view: dict[str, Any], bar: Any, heat: Any, key: str) -> None:
    cols = st.columns(4)
    name = f"whylm-{(result.get('meta') or {}).get('method', 'run')}"
    json_download(cols[0], result, f"{name}.json", key)
    csv_download(cols[1], "Attributions (CSV)", charts.attribution_csv(view), f"{name}.csv", key)
    _png_download(cols[2], "Bar chart (PNG)", bar, f"{name}-bars.png", f"{key}_dl_bar")
    if heat is not None:
        _png_download(cols[3], "Heatmap (PNG)", heat, f"{name}-heatmap.png", f"{key}_dl_heat")


def _png_download(column: Any, label: str, chart: Any, file_name: str, key: str) -> None:
    """A chart as a PNG download, drawn only when the button is pressed."""
    download(column, label, lambda: charts.chart_png(chart), file_name, "image/png", key)
