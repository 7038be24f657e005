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
    """White on a strong colour; otherwise the page's own text colour (readable in light and dark themes)."""
    return "#ffffff" if scale > 0 and abs(value) / scale > 0.55 else "inherit"


def _visible(token: str) -> str:
    """Escaped token text; a newline shows as ↵ followed by a real line break."""
    escaped = html.escape(token, quote=True)
    return escaped.replace("\n", "\u21b5<br>")


def highlight_html(
    tokens: Sequence[str],
    feature_tokens: Sequence[Sequence[int]],
    values: Sequence[float],
    labels: Sequence[str],
    shown: tuple[int, int] | None = None,
) -> str:
    """HTML of the prompt's tokens, each coloured by the attribution of the feature covering it.

    Args:
        tokens: the prompt's tokens as text, in order.
        feature_tokens: for each feature, the indices of the tokens it covers.
        values: one attribution per feature.
        labels: one label per feature (shown when hovering a token).
        shown: the tokens to show (start, end), e.g. the user's text inside a chat template;
            the others are left out with a note. None shows them all.

    Tokens outside every feature (template text) are shown faded.
    """
    owner: dict[int, list[int]] = {}
    for f, covered in enumerate(feature_tokens):
        for t in covered:
            owner.setdefault(int(t), []).append(f)
    scale = max((abs(float(v)) for v in values), default=0.0)
    pieces = []
    first, last = shown if shown is not None else (0, len(tokens))
    for t, token in enumerate(tokens):
        if not first <= t < last:
            continue
        feats = owner.get(t)
        if not feats:
            pieces.append(f'<span class="whylm-context" style="opacity:0.6">{_visible(token)}</span>')
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
    note = ""
    if shown is not None and (first > 0 or last < len(tokens)):
        note = (
            '<div class="whylm-chat-note" style="font-size:0.8rem;opacity:0.7">Chat mode: the model read this '
            "inside its chat template (the template's own text is not shown and is never a feature).</div>"
        )
    return (
        f'{note}<div class="whylm-highlight" style="white-space:pre-wrap;font-family:ui-monospace,monospace;'
        f'line-height:1.9;font-size:0.95rem">{body}</div>'
    )


def _user_text(spec: dict[str, Any]) -> str | None:
    """The user's prompt text as the model read it inside the chat template (all features present), or None."""
    prompt = spec.get("prompt")
    if not isinstance(prompt, dict):
        return None
    if isinstance(prompt.get("text"), str):
        return prompt["text"]
    try:
        from core.attribution.features import layout_from_template

        layout = layout_from_template(
            prompt["template"],
            prompt.get("values"),
            prompt.get("baselines"),
            prompt.get("groups"),
            prompt.get("paired"),
        )
    except Exception:  # noqa: BLE001 - a stored spec that no longer lays out: show every token
        return None
    return layout.render([True] * len(layout.features), {})


def user_token_range(result: dict[str, Any]) -> tuple[int, int] | None:
    """For a chat-mode result: the prompt tokens (start, end) that hold the user's text, else None.

    Found by the text itself: the tokens are joined and the user's text looked for from the end
    (the chat template comes before and after it). None when it cannot be found.
    """
    spec = result.get("spec") or {}
    tokens = [str(t) for t in result.get("prompt_tokens") or []]
    if not isinstance(spec, dict) or not spec.get("chat") or not tokens:
        return None
    user = _user_text(spec)
    joined = "".join(tokens)
    at = joined.rfind(user) if user else -1
    if not user or at < 0:
        return None
    ends, pos = [], 0
    for token in tokens:
        pos += len(token)
        ends.append(pos)
    first = next(i for i, end in enumerate(ends) if end > at)
    last = next(i for i, end in enumerate(ends) if end >= at + len(user)) + 1
    return first, last


def result_highlight_html(result: dict[str, Any], values: Sequence[float] | None = None) -> str:
    """``highlight_html`` for a result dict (sequence attribution unless ``values`` is given)."""
    return highlight_html(
        result.get("prompt_tokens") or [],
        result.get("feature_tokens") or [],
        list(values) if values is not None else result["seq_attr"],
        result["features"],
        shown=user_token_range(result),
    )


def legend_html() -> str:
    """A one-line legend for the highlighted prompt (fixed text, no user input)."""
    blue = token_colour(1.0, 1.0)
    red = token_colour(-1.0, 1.0)
    return (
        '<div style="font-size:0.85rem;opacity:0.75">'
        f'<span style="background:{blue};color:#fff;padding:0 4px;border-radius:3px">blue</span> pushed toward '
        f'the output, <span style="background:{red};color:#fff;padding:0 4px;border-radius:3px">red</span> '
        "pushed against it; stronger colour, bigger effect; faded text is not a feature.</div>"
    )
