"""The prompt as highlighted text: every token escaped, coloured by its feature's attribution.

``highlight_html`` returns a small HTML fragment. Every piece of text that came
from the user or the model (tokens, feature labels, numbers) goes through
``html.escape``; the only markup is the fixed ``<div>``/``<span>`` structure
built here, so the fragment is safe to hand to a page as HTML.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

TOWARD_RGB = (33, 102, 172)  # same blue as core.present.charts.TOWARD_COLOR
AGAINST_RGB = (178, 24, 43)  # same red as core.present.charts.AGAINST_COLOR


def token_colour(value: float, scale: float) -> str:
    """Background colour of a token: blue (toward) or red (against), stronger with |value|."""
    if scale <= 0 or value == 0:
        return "transparent"
    alpha = min(1.0, abs(value) / scale) * 0.85
    r, g, b = TOWARD_RGB if value > 0 else AGAINST_RGB
    return f"rgba({r},{g},{b},{alpha:.3f})"


def _text_colour(value: float, scale: float) -> str:
    return "#ffffff" if scale > 0 and abs(value) / scale > 0.55 else "#111111"


def _visible(token: str) -> str:
    """Escaped token text; a newline shows as ↵ followed by a real line break."""
    escaped = html.escape(token, quote=True)
    return escaped.replace("\n", "\u21b5<br>")


def highlight_html(
    tokens: Sequence[str],
    feature_tokens: Sequence[Sequence[int]],
    values: Sequence[float],
    labels: Sequence[str],
) -> str:
    """HTML of the prompt's tokens, each coloured by the attribution of the feature covering it.

    Args:
        tokens: the prompt's tokens as text, in order.
        feature_tokens: for each feature, the indices of the tokens it covers.
        values: one attribution per feature.
        labels: one label per feature (shown when hovering a token).

    Tokens outside every feature (template text, chat markup) are shown in grey.
    """
    owner: dict[int, list[int]] = {}
    for f, covered in enumerate(feature_tokens):
        for t in covered:
            owner.setdefault(int(t), []).append(f)
    scale = max((abs(float(v)) for v in values), default=0.0)
    pieces = []
    for t, token in enumerate(tokens):
        feats = owner.get(t)
        if not feats:
            pieces.append(f'<span class="whylm-context" style="color:#888888">{_visible(token)}</span>')
            continue
        value = float(sum(float(values[f]) for f in feats))
        title = "; ".join(f"{labels[f]}: {float(values[f]):+.4f}" for f in feats)
        style = (
            f"background:{token_colour(value, scale)};color:{_text_colour(value, scale)};"
            "border-radius:3px;padding:1px 0"
        )
        pieces.append(
            f'<span class="whylm-token" style="{style}" title="{html.escape(title, quote=True)}">'
            f"{_visible(token)}</span>"
        )
    body = "".join(pieces)
    return (
        '<div class="whylm-highlight" style="white-space:pre-wrap;font-family:ui-monospace,monospace;'
        f'line-height:1.9;font-size:0.95rem">{body}</div>'
    )


def result_highlight_html(result: dict[str, Any], values: Sequence[float] | None = None) -> str:
    """``highlight_html`` for a result dict (sequence attribution unless ``values`` is given)."""
    return highlight_html(
        result.get("prompt_tokens") or [],
        result.get("feature_tokens") or [],
        list(values) if values is not None else result["seq_attr"],
        result["features"],
    )


def legend_html() -> str:
    """A one-line legend for the highlighted prompt (fixed text, no user input)."""
    blue = token_colour(1.0, 1.0)
    red = token_colour(-1.0, 1.0)
    return (
        '<div style="font-size:0.85rem;color:#555">'
        f'<span style="background:{blue};color:#fff;padding:0 4px;border-radius:3px">blue</span> pushed toward '
        f'the output, <span style="background:{red};color:#fff;padding:0 4px;border-radius:3px">red</span> '
        "pushed against it; stronger colour, bigger effect; grey text is not a feature.</div>"
    )
