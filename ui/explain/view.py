"""The result view shared by every page that shows an attribution result (including Saved runs).

:func:`show_result` takes a plain result dict (``RunResult.to_dict()`` or a
stored result) and draws: a one-sentence summary, the target's score in plain
words, the prompt highlighted by attribution (for the whole output or a span
of output tokens), the bar chart per feature, the output-token x feature
heatmap, a numbers table, and downloads (JSON, CSV, PNG). Display options are
widgets keyed by ``key``; changing them never recomputes anything.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from core.attribution.methods import METHODS
from core.present import charts, trust
from core.present.highlight import legend_html, result_highlight_html
from ui.shared.markdown import escape_markdown
from ui.shared.page_parts import csv_download, download, json_download

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

    stderr = trust.span_stderr(view, span) if view is result else None
    st.info(escape_markdown(charts.summary_sentence(view, values)))
    noise = trust.noise_sentence(view, values, stderr)
    if noise:
        st.warning(escape_markdown(noise))
    target = result.get("target") or {}
    label = "Generated output" if target.get("generated") else "Explained output"
    st.markdown(f"**{label}:** {output_words(str(target.get('text', '')))}")
    if target.get("contrast"):
        st.markdown(f"**Alternative (contrast):** {escape_markdown(repr(target['contrast'])[1:-1])}")
    for sentence in charts.score_sentences(result):
        st.markdown("- " + escape_markdown(sentence))
    _show_completeness(result)

    st.markdown(f"**The prompt, coloured by each part's effect on {escape_markdown(span_words)}**")
    st.html(result_highlight_html(view, values))
    st.html(legend_html())

    # one above the other: side by side, at 1000 px each had a quarter of the screen (cut titles, a squeezed heatmap)
    bar = charts.sequence_bar_chart(view, values, title=f"Effect on {span_words}", stderr=stderr)
    st.altair_chart(bar, width="stretch")
    if stderr is not None:
        st.caption("Black lines on the bars: one standard error either side (the method samples).")
    heat = charts.token_heatmap(view, title="Effect on each output token")
    if heat is not None:
        st.altair_chart(heat, width="stretch")
    else:
        st.caption("This method gives no per-token attributions.")
    _show_faithfulness(result, span, key)

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
    options = list(range(len(labels)))
    c1, c2 = st.columns(2)
    first = c1.selectbox("From output token", options, format_func=labels.__getitem__, key=f"{key}_span_from")
    last = c2.selectbox(
        "To output token (the same one for a single token)",
        options,
        index=first,
        format_func=labels.__getitem__,
        key=f"{key}_span_to",
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
    relative = abs(float(seq.get("relative", 0.0)))
    sentence = (
        "Check: the numbers should add up to how much the score changes between the empty (baseline) prompt "
        f"and the real one, {float(seq.get('difference', 0.0)):.4g}; they miss it by "
        f"{float(seq.get('gap', 0.0)):+.4g} ({relative:.1%})."
    )
    if relative > 0.05:
        st.warning(
            escape_markdown(
                sentence + " That is a large miss: the method did not settle, so the numbers are not yet a "
                "reliable split of the change. " + steps_advice(result, relative)
            )
        )
    else:
        st.markdown("- " + escape_markdown(sentence + " A miss this small means the split can be trusted."))


GOOD_MISS = 0.05
"""A completeness miss below this (5%) is small enough to read the numbers."""


def recommended_steps(steps: int, relative: float, goal: float = GOOD_MISS) -> int:
    """Steps that should bring a miss of ``relative`` at ``steps`` under ``goal``.

    The miss of a quadrature shrinks at least in proportion to the steps (faster for
    Gauss-Legendre on a smooth path), so ``steps * relative / goal`` is enough unless the
    path is rough; rounded up to a multiple of 8.
    """
    needed = steps * relative / goal
    return int(math.ceil(needed / 8 - 1e-9) * 8)


def steps_advice(result: dict[str, Any], relative: float) -> str:
    """ "Raise Steps from 24 to about 200 and run again ...", from the run's steps and its measured miss."""
    spec = result.get("spec") or {}
    method = spec.get("method") or {}
    info = METHODS.get(str(method.get("name", "")))
    declared = next((p for p in info.params if p.name == "steps"), None) if info else None
    steps = int(method.get("steps") or (declared.default if declared else 50))
    most = int(declared.maximum) if declared is not None and declared.maximum is not None else 1000
    wanted = recommended_steps(steps, relative)
    if wanted > most:
        return (
            f"Even the most steps ({most:,}, now {steps:,}) may not bring the miss under {GOOD_MISS:.0%}; "
            "try another baseline token or another method before reading the numbers."
        )
    return (
        f"Raise Steps from {steps:,} to about {wanted:,} (the miss shrinks at least in proportion to the steps) "
        "and run again before reading them."
    )


def output_words(text: str) -> str:
    """An output for markdown as the model wrote it: line breaks as breaks (never a literal \\n), escaped."""
    if not text.strip():
        return escape_markdown(repr(text)) + " (only white space)"
    lines = [escape_markdown(line) for line in text.strip("\n").split("\n")]
    return "  \n".join(lines)


def _show_faithfulness(result: dict[str, Any], span: tuple[int, int] | None, key: str) -> None:
    """The deletion/insertion curves beside random orders, and one sentence (when the run checked them)."""
    token = span[0] if span is not None and span[0] == span[1] else None
    entry = trust.faithfulness_of(result, token)
    if entry is None and token is not None:
        entry = trust.faithfulness_of(result)
        token = None
    if entry is None:
        return
    what = "the whole output" if token is None else f"output token {token + 1}"
    st.markdown(f"**How faithful is this picture? (toward {escape_markdown(what)})**")
    sentence = trust.faithfulness_sentence(entry)
    if sentence:
        st.markdown(escape_markdown(sentence))
    chart = trust.faithfulness_chart(entry, score_title=charts.score_label(result).replace("Effect on", "Score of"))
    st.altair_chart(chart, width="stretch", key=f"{key}_faithfulness")


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
