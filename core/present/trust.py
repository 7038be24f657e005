"""How far to trust a result, in pictures and sentences: faithfulness curves, error bars, noise.

Every function takes a result as a plain dict (``RunResult.to_dict()`` or a stored
result; an older result without ``faithfulness`` or standard errors gives None or
no sentence) and returns an altair chart, numbers or a sentence.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

from core.attribution.uncertainty import NOISE_Z, within_noise
from core.present.charts import AGAINST_COLOR, TOWARD_COLOR, axis_title, titled

CURVE_COLORS = {"deletion": AGAINST_COLOR, "insertion": TOWARD_COLOR}


def faithfulness_of(result: dict[str, Any], token: int | None = None) -> dict[str, Any] | None:
    """The faithfulness entry of the whole output (``token`` None) or of one output token; None if absent."""
    info = result.get("faithfulness")
    if not isinstance(info, dict):
        return None
    if token is None:
        entry = info.get("sequence")
    else:
        tokens = info.get("tokens") or []
        entry = tokens[token] if 0 <= token < len(tokens) else None
    return entry if isinstance(entry, dict) and entry.get("deletion") else None


def faithfulness_frame(entry: dict[str, Any]) -> pd.DataFrame:
    """Long table of the curves: k, score, curve (deletion/insertion), order (this attribution/random)."""
    records = []
    points = entry.get("k") or list(range(len(entry.get("deletion") or [])))
    for curve in ("deletion", "insertion"):
        for order, values in (
            ("this attribution", entry.get(curve)),
            ("random order", (entry.get("random") or {}).get(curve)),
        ):
            for k, value in zip(points, values or []):
                if isinstance(value, (int, float)) and math.isfinite(value):
                    records.append({"k": k, "score": float(value), "curve": curve, "order": order})
    return pd.DataFrame(records, columns=["k", "score", "curve", "order"])


LEGEND_GREY = "#8c8c8c"
"""A grey that reads on both the light and the dark theme."""


def faithfulness_chart(
    entry: dict[str, Any], score_title: str = "Score", title: str | None = None
) -> alt.Chart:
    """Small line chart: deletion and insertion scores against the number of features removed / added.

    Solid lines follow the attribution's order, dashed ones the mean of the random orders.
    """
    frame = faithfulness_frame(entry)
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "k:Q",
                title="Features removed (deletion) or added (insertion), largest first",
                axis=alt.Axis(tickMinStep=1),
            ),
            y=alt.Y("score:Q", title=axis_title(score_title), scale=alt.Scale(zero=False)),
            color=alt.Color(
                "curve:N",
                scale=alt.Scale(domain=list(CURVE_COLORS), range=list(CURVE_COLORS.values())),
                legend=alt.Legend(title=None, orient="right"),
            ),
            strokeDash=alt.StrokeDash(
                "order:N",
                scale=alt.Scale(domain=["this attribution", "random order"], range=[[1, 0], [4, 3]]),
                # drawn as a solid and a dashed line in mid grey: readable on light and dark themes
                # (the default symbol was the same black dot for both, invisible in dark mode)
                legend=alt.Legend(
                    title=None,
                    orient="right",
                    symbolType="stroke",
                    symbolStrokeColor=LEGEND_GREY,
                    symbolStrokeWidth=2,
                    symbolSize=300,
                ),
            ),
            tooltip=[
                alt.Tooltip("curve:N", title="Curve"),
                alt.Tooltip("order:N", title="Order"),
                alt.Tooltip("k:Q", title="Features"),
                alt.Tooltip("score:Q", title="Score", format=".4f"),
            ],
        )
        .properties(height=260, width="container")  # room for the legends and the y title under "fit"
    )
    return titled(chart, title)


def _times(ratio: Any) -> str | None:
    """A ratio in words ("3.1x"), None when there is none."""
    if isinstance(ratio, (int, float)) and math.isfinite(ratio):
        return f"{ratio:.1f}x"
    return None


def _spread(value: Any) -> str:
    return f" ± {value:.3g}" if isinstance(value, (int, float)) and math.isfinite(value) else ""


def faithfulness_sentence(entry: dict[str, Any] | None) -> str | None:
    """One sentence: how much better than random orders removing / adding the top features changes the score."""
    if not entry:
        return None
    random = entry.get("random") or {}
    own_del, own_ins = float(entry.get("aopc_deletion", 0.0)), float(entry.get("aopc_insertion", 0.0))
    if not random.get("orders"):
        return (
            f"Removing the top-ranked parts first lowers the score by {own_del:.3g} on average (deletion AOPC) "
            f"and adding them first raises it by {own_ins:.3g} (insertion AOPC); no random order fitted in "
            "the budget to compare with."
        )
    orders = int(random["orders"])
    parts = []
    for name, own in (("deletion", own_del), ("insertion", own_ins)):
        times = _times(entry.get(f"ratio_{name}"))
        rand = float(random.get(f"aopc_{name}", 0.0))
        rand_words = f"{rand:.3g}{_spread(random.get(f'aopc_{name}_std'))}"
        what = (
            "removing the top-ranked parts first lowers the score"
            if name == "deletion"
            else "adding them first to an empty prompt raises it"
        )
        if times:
            parts.append(f"{what} {times} as much as in a random order ({own:.3g} vs {rand_words})")
        else:
            parts.append(f"{what} by {own:.3g}, a random order by {rand_words}")
    spread_note = f" over {orders} random order{'s' if orders != 1 else ''}"
    worse = [name for name in ("deletion", "insertion") if not (entry.get(f"gain_{name}") or 0.0) > 0]
    if not worse:
        verdict = "This attribution explains the model better than random orders"
    elif len(worse) == 2:
        verdict = "This attribution explains the model no better than random orders"
    else:
        verdict = f"This attribution beats random orders on one curve but not on {worse[0]}"
    return f"{verdict}: {parts[0]}; {parts[1]}{spread_note} (deletion and insertion AOPC)."


def span_stderr(result: dict[str, Any], span: tuple[int, int] | None) -> list[float] | None:
    """Standard error per feature of the whole output (``span`` None) or a span of output tokens.

    A span's is the root of the summed squares of its tokens' (as if they were independent).
    """
    if span is None or not result.get("token_stderr"):
        values = result.get("seq_stderr")
        return [float(v) for v in values] if values else None
    rows = result["token_stderr"][span[0] : span[1] + 1]
    return [math.sqrt(sum(float(r[j]) ** 2 for r in rows)) for j in range(len(result["features"]))]


def _short(label: str, limit: int = 40) -> str:
    text = " ".join(str(label).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def noise_sentence(result: dict[str, Any], values: list[float], stderr: list[float] | None) -> str | None:
    """A sentence when the two largest attributions are within the noise of each other; else None."""
    if not within_noise(values, stderr):
        return None
    order = sorted(range(len(values)), key=lambda i: -values[i])
    first, second = (_short(result["features"][i]) for i in order[:2])
    return (
        f"‘{first}’ and ‘{second}’ differ by less than {NOISE_Z:g} standard errors: their order may change "
        "with another seed; raise the samples or trials to tell them apart."
    )


def faithfulness_cells(result: dict[str, Any] | None) -> dict[str, float | None]:
    """A run's faithfulness as table cells (deletion/insertion AOPC, each minus the random orders'); None if unchecked."""
    entry = faithfulness_of(result or {}) or {}
    return {
        "deletion AOPC": entry.get("aopc_deletion"),
        "deletion minus random": entry.get("gain_deletion"),
        "insertion AOPC": entry.get("aopc_insertion"),
        "insertion minus random": entry.get("gain_insertion"),
    }
