"""Visual encodings of a result: altair charts and plain-language sentences.

Every function takes a result as a plain dict (``RunResult.to_dict()`` or a
stored result) and returns an altair chart, a table or a sentence; nothing
here talks to streamlit, so the dashboard, saved runs and exports draw the
same pictures from the same numbers. The pieces the chart modules share
(zero line, colour encodings, feature axis, ``finite_or_none``) live here too.

Colour convention (shared with ``core.present.highlight``): blue pushed the model
toward the output, red pushed it against the output, white is no effect.
"""

from __future__ import annotations

import copy
import math
import textwrap
from collections.abc import Sequence
from typing import Any, TypeVar

import altair as alt
import pandas as pd

from core.text import unique_labels

TOWARD_COLOR = "#2166ac"
AGAINST_COLOR = "#b2182b"
DIVERGING_SCHEME = "redblue"  # red for negative, blue for positive (vega scheme)

ChartT = TypeVar("ChartT", bound=alt.TopLevelMixin)


# ---------------------------------------------------------------- labels and levels


def visible_token(token: str) -> str:
    """A token as it should read in a chart label: newlines and tabs made visible."""
    return token.replace("\n", "\u21b5").replace("\t", "\u21e5") or "\u2205"


def output_labels(result: dict[str, Any]) -> list[str]:
    """Unique labels of the output tokens in order ("1: playing", "2:  golf", ...)."""
    return [f"{i + 1}: {visible_token(t)}" for i, t in enumerate(result.get("output_tokens") or [])]


def has_token_level(result: dict[str, Any]) -> bool:
    """Whether the result carries token-level attributions (gradient methods)."""
    level = (result.get("extra") or {}).get("token_level")
    return isinstance(level, dict) and bool(level.get("tokens"))


def word_groups(tokens: list[str]) -> list[list[int]]:
    """Consecutive tokens grouped into words (positions into ``tokens``).

    A word starts at a token that begins with whitespace, after a token that
    ends with whitespace, and at a change between letters/digits and
    punctuation; so " Palm", " Co", "ast" and "," give "Palm", "Coast", ",".
    """
    groups: list[list[int]] = []
    prev_kind = None
    for i, token in enumerate(tokens):
        core_text = token.strip()
        kind = "space" if not core_text else ("word" if any(ch.isalnum() for ch in core_text) else "punct")
        starts = (
            not groups
            or token[:1].isspace()
            or tokens[i - 1][-1:].isspace()
            or kind != prev_kind
            or kind == "punct"
        )
        if starts:
            groups.append([i])
        else:
            groups[-1].append(i)
        prev_kind = kind
    return groups


def at_level(result: dict[str, Any], level: str) -> dict[str, Any]:
    """The result seen per prompt token ("tokens") or per word ("words"), from stored token-level data.

    Uses ``extra["token_level"]`` (gradient methods); words sum the
    attributions of their tokens. Nothing is recomputed. A result without
    token-level data is returned unchanged.
    """
    if not has_token_level(result):
        return result
    tl = result["extra"]["token_level"]
    tokens = list(tl["tokens"])
    indices = [int(i) for i in (tl.get("token_indices") or range(len(tokens)))]
    seq = [float(v) for v in tl["seq_attr"]]
    rows = tl.get("token_attr") or []
    out = copy.copy(result)
    if level == "tokens":
        out["features"] = unique_labels([visible_token(t) for t in tokens])
        out["seq_attr"] = seq
        out["token_attr"] = [list(map(float, r)) for r in rows] or None
        out["feature_tokens"] = [[i] for i in indices]
        return out
    groups = word_groups(tokens)
    out["features"] = unique_labels([visible_token("".join(tokens[i] for i in g).strip()) for g in groups])
    out["seq_attr"] = [sum(seq[i] for i in g) for g in groups]
    out["token_attr"] = [[sum(float(r[i]) for i in g) for g in groups] for r in rows] or None
    out["feature_tokens"] = [[indices[i] for i in g] for g in groups]
    return out


def span_attribution(result: dict[str, Any], span: tuple[int, int] | None = None) -> list[float]:
    """Attribution of each feature toward output tokens ``span`` = (first, last), inclusive.

    ``None`` (or a result without per-token rows) gives the whole sequence's
    attribution. A span sums the per-token attributions of its tokens.
    """
    rows = result.get("token_attr")
    if span is None or not rows:
        return [float(v) for v in result["seq_attr"]]
    first, last = span
    picked = rows[first : last + 1]
    return [float(sum(row[j] for row in picked)) for j in range(len(result["features"]))]


def score_label(result: dict[str, Any]) -> str:
    """What the attribution numbers measure, in words, for an axis title."""
    spec = result.get("spec") or {}
    score = spec.get("score", "log_prob")
    contrast = (result.get("target") or {}).get("contrast")
    what = "log-probability" if score == "log_prob" else "probability"
    if contrast:
        return f"Effect on {what} of the target minus the alternative"
    return f"Effect on the target's {what}"


def axis_title(text: str, width: int = 30) -> str | list[str]:
    """An axis title in lines of at most ``width`` characters (Vega-Lite draws a list as lines), so a long
    title stays whole under a narrow chart instead of being cut ("...log-probabilit")."""
    lines = textwrap.wrap(text, width)
    return lines if len(lines) > 1 else text


# ---------------------------------------------------------------- tables


def attribution_table(result: dict[str, Any]) -> pd.DataFrame:
    """One row per feature (prompt order): feature, attribution, then one column per output token."""
    frame = pd.DataFrame(
        {"feature": list(result["features"]), "attribution": [float(v) for v in result["seq_attr"]]}
    )
    rows = result.get("token_attr")
    if rows:
        for label, row in zip(output_labels(result), rows):
            frame[label] = [float(v) for v in row]
    return frame


def attribution_csv(result: dict[str, Any]) -> str:
    """The attribution table as CSV text (for download)."""
    return attribution_table(result).to_csv(index=False)


# ---------------------------------------------------------------- pieces shared by the chart modules


def finite_or_none(value: Any) -> float | None:
    """A number as a finite float, or None (for booleans, non-numbers, NaN and infinities)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def zero_rule() -> alt.Chart:
    """A vertical line at zero, to layer over horizontal bars."""
    return alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="#333333").encode(x="zero:Q")


def titled(chart: ChartT, title: str | None) -> ChartT:
    """The chart with ``title`` set, or the chart unchanged when there is no title."""
    return chart.properties(title=title) if title else chart


def category_axis(**options: Any) -> alt.Axis:
    """An axis of named categories (features, tokens, candidates) that labels every one of them.

    Streamlit's chart theme hides labels it finds crowded (``labelOverlap``); a
    feature without its label cannot be read, so every category axis says no.
    """
    return alt.Axis(labelOverlap=False, **options)


def column_label_angle(count: int) -> int:
    """The angle of a heatmap's column labels: slanted for up to three columns, upright (-90) for more.

    Upright labels need only a line's height per column, so they stay apart in a narrow column of the page.
    """
    return -40 if count <= 3 else -90


def feature_axis(features: Sequence[str]) -> alt.Y:
    """The row axis of a per-feature bar chart: features in the given order, labels up to 260 px."""
    return alt.Y("feature:N", sort=list(features), title=None, axis=category_axis(labelLimit=260))


def direction_color(domain: list[str], colors: list[str]) -> alt.Color:
    """Bars coloured by their "direction" category (domain[i] in colors[i]), legend below without title."""
    return alt.Color(
        "direction:N",
        scale=alt.Scale(domain=domain, range=colors),
        legend=alt.Legend(title=None, orient="bottom", direction="vertical", labelLimit=0),
    )


def diverging_color(field: str, biggest: float, legend_title: str) -> alt.Color:
    """Heatmap colour of a quantitative ``field``: red-white-blue, symmetric around zero up to ``biggest``."""
    return alt.Color(
        f"{field}:Q",
        scale=alt.Scale(scheme=DIVERGING_SCHEME, domain=[-biggest, biggest], domainMid=0),
        legend=alt.Legend(title=legend_title),
    )


# ---------------------------------------------------------------- charts


def _feature_frame(result: dict[str, Any], values: list[float] | None) -> pd.DataFrame:
    values = [float(v) for v in (values if values is not None else result["seq_attr"])]
    return pd.DataFrame(
        {
            "feature": list(result["features"]),
            "order": list(range(len(values))),
            "attribution": values,
            "direction": [
                "toward the output" if v > 0 else "against the output" if v < 0 else "no effect"
                for v in values
            ],
        }
    )


def sequence_bar_chart(
    result: dict[str, Any],
    values: list[float] | None = None,
    title: str | None = None,
    stderr: list[float] | None = None,
) -> alt.LayerChart:
    """Bar chart of one attribution per feature, features in prompt order, with a zero line.

    ``values`` overrides the sequence attribution (e.g. a span of output tokens).
    Bars pointing right (blue) pushed toward the output, left (red) against it.
    ``stderr`` (one standard error per feature) draws an error bar of one standard
    error either side of each bar.
    """
    frame = _feature_frame(result, values)
    y = feature_axis(frame["feature"])
    x = alt.X("attribution:Q", title=axis_title(score_label(result)))
    color = direction_color(
        ["toward the output", "against the output", "no effect"], [TOWARD_COLOR, AGAINST_COLOR, "#999999"]
    )
    tooltip = [
        alt.Tooltip("feature:N", title="Feature"),
        alt.Tooltip("attribution:Q", title="Attribution", format=".4f"),
    ]
    layers: list[Any] = []
    if stderr is not None and len(stderr) == len(frame):
        frame["stderr"] = [float(v) for v in stderr]
        frame["low"] = frame["attribution"] - frame["stderr"]
        frame["high"] = frame["attribution"] + frame["stderr"]
        tooltip.append(alt.Tooltip("stderr:Q", title="Standard error", format=".4f"))
        layers.append(
            alt.Chart(frame).mark_rule(color="#333333", strokeWidth=1.5).encode(x="low:Q", x2="high:Q", y=y)
        )
    bars = alt.Chart(frame).mark_bar().encode(x=x, y=y, color=color, tooltip=tooltip)
    chart = alt.layer(bars, *layers, zero_rule()).properties(height=alt.Step(26), width="container")
    return titled(chart, title)


def token_heatmap(result: dict[str, Any], title: str | None = None) -> alt.Chart | None:
    """Heatmap of output tokens (rows) x features (columns), centred on zero; None without per-token rows."""
    rows = result.get("token_attr")
    if not rows:
        return None
    labels = output_labels(result)
    features = list(result["features"])
    records = [
        {"output token": labels[i], "row": i, "feature": features[j], "col": j, "attribution": float(v)}
        for i, row in enumerate(rows)
        for j, v in enumerate(row)
    ]
    frame = pd.DataFrame(records)
    biggest = max((abs(r["attribution"]) for r in records), default=0.0) or 1.0
    chart = (
        alt.Chart(frame)
        .mark_rect(stroke="#ffffff", strokeWidth=0.5)
        .encode(
            x=alt.X(
                "feature:N",
                sort=features,
                title="Prompt feature",
                axis=category_axis(labelAngle=column_label_angle(len(features)), labelLimit=160),
            ),
            y=alt.Y("output token:N", sort=labels, title="Output token", axis=category_axis(labelLimit=200)),
            color=diverging_color("attribution", biggest, "Attribution"),
            tooltip=[
                alt.Tooltip("output token:N", title="Output token"),
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("attribution:Q", title="Attribution", format=".4f"),
            ],
        )
        .properties(height=alt.Step(22), width="container")
    )
    return titled(chart, title)


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """A chart rendered to PNG bytes (vl-convert; no browser needed)."""
    import vl_convert

    spec = chart.to_dict()
    spec = _fixed_width(spec)
    return vl_convert.vegalite_to_png(spec, scale=scale)


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """A chart rendered to SVG text (vl-convert; no browser needed)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(_fixed_width(chart.to_dict()))


def _fixed_width(spec: dict[str, Any], width: int = 640) -> dict[str, Any]:
    """Replace the "container" width (meaningless outside a page) with pixels, recursively."""
    if isinstance(spec, dict):
        return {
            k: (width if k == "width" and v == "container" else _fixed_width(v, width))
            for k, v in spec.items()
        }
    if isinstance(spec, list):
        return [_fixed_width(v, width) for v in spec]
    return spec


# ---------------------------------------------------------------- sentences


def _quote(text: str, limit: int = 40) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return f"\u2018{text}\u2019"


def summary_sentence(result: dict[str, Any], values: list[float] | None = None) -> str:
    """One plain sentence naming the feature that pushed most toward the output and most against it."""
    values = [float(v) for v in (values if values is not None else result["seq_attr"])]
    features = list(result["features"])
    if not values:
        return "There are no features to explain."
    scale = max(abs(v) for v in values)
    if scale == 0 or not math.isfinite(scale):
        return "No part of the prompt changed the score of this output."
    contrast = (result.get("target") or {}).get("contrast")
    output = f"this output rather than {_quote(contrast)}" if contrast else "this output"
    best = max(range(len(values)), key=lambda i: values[i])
    worst = min(range(len(values)), key=lambda i: values[i])
    tiny = scale * 1e-6
    parts = []
    if values[best] > tiny:
        parts.append(f"{_quote(features[best])} pushed the model most toward {output}")
    else:
        parts.append(f"no feature pushed the model toward {output}")
    if values[worst] < -tiny:
        parts.append(f"{_quote(features[worst])} pushed most against it")
    else:
        parts.append("no feature pushed against it")
    sentence = "; ".join(parts) + "."
    return sentence[0].upper() + sentence[1:]


_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def format_probability(p: float) -> str:
    """A probability as people read it: "3.2%", "0.041%", or "2.3 × 10⁻¹³" when tiny."""
    if not math.isfinite(p):
        return "unknown"
    if p <= 0:
        return "0%"
    if p >= 1e-4:
        return f"{p * 100:.3g}%"
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{mantissa} \u00d7 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def score_sentences(result: dict[str, Any]) -> list[str]:
    """Plain sentences on the target's score with all features present and with none."""
    spec = result.get("spec") or {}
    score = spec.get("score", "log_prob")
    target = result.get("target") or {}
    contrast = target.get("contrast")
    s_all, s_none = float(result["score_all"]), float(result["score_none"])
    none_words = "with every feature removed (or replaced by its baseline)"
    if contrast:
        if score == "log_prob":
            return [
                f"With the full prompt the target is {_ratio(s_all)} as likely as the alternative "
                f"{_quote(contrast)} (log-probability difference {s_all:.3f}).",
                f"{none_words.capitalize()} it is {_ratio(s_none)} as likely (difference {s_none:.3f}).",
            ]
        return [
            f"Probability of the target minus that of the alternative {_quote(contrast)}, with the full "
            f"prompt: {s_all:+.4g}.",
            f"The same {none_words}: {s_none:+.4g}.",
        ]
    if score == "log_prob":
        return [
            f"Probability of the target with the full prompt: {format_probability(math.exp(s_all))} "
            f"(log-probability {s_all:.3f}).",
            f"Probability of the target {none_words}: {format_probability(math.exp(s_none))} "
            f"(log-probability {s_none:.3f}).",
        ]
    return [
        f"Probability of the target with the full prompt: {format_probability(s_all)}.",
        f"Probability of the target {none_words}: {format_probability(s_none)}.",
    ]


def _ratio(log_ratio: float) -> str:
    ratio = math.exp(max(min(log_ratio, 700.0), -700.0))
    if ratio >= 1:
        return f"{ratio:,.3g} times"
    return f"1/{1 / ratio:,.3g} times"
