"""The document drawn as escaped HTML, each source shaded by its value: blue supports the answer, red works against it."""

from __future__ import annotations

import html
from typing import Any

from core.probes.documents.sources import SHARE_OF

SUPPORTS = (43, 108, 176)
AGAINST = (197, 48, 48)


def shade(value: float, scale: float) -> str:
    """A background colour for a value: blue for positive, red for negative, stronger the larger it is."""
    if scale <= 0:
        return "transparent"
    rgb = SUPPORTS if value >= 0 else AGAINST
    alpha = min(abs(value) / scale, 1.0) * 0.55
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha:.3f})"


def shaded_document(result: dict[str, Any], level: str | None = None, only: int | None = None) -> str:
    """The document (or, with ``only``, one paragraph) as HTML: every source of ``level`` (the finest by
    default) in a span shaded by its value, with its value and standard error on hover; all text escaped."""
    document = result["spec"]["document"]
    level = level or result["spec"]["level"]
    sources = result["sources"]
    chosen = [
        (i, s)
        for i, s in enumerate(sources)
        if s["level"] == level and (only is None or _inside(sources, i, only))
    ]
    scale = max((abs(s["value"]) for _, s in chosen), default=0.0)
    start = sources[only]["start"] if only is not None else 0
    end = sources[only]["end"] if only is not None else len(document)
    out, pos = [], start
    for _i, s in sorted(chosen, key=lambda pair: pair[1]["start"]):
        out.append(html.escape(document[pos : s["start"]]))
        tip = f"{s['value']:+.3f} ± {s['stderr']:.3f}" + ("" if s["refined"] else f" (share of {SHARE_OF[s['level']]})")
        style = f"background:{shade(s['value'], scale)};border-radius:3px;padding:1px 0"
        if not s["refined"]:
            style += ";text-decoration:underline dotted #999"
        out.append(
            f'<span title="{html.escape(tip)}" style="{style}">{html.escape(document[s["start"] : s["end"]])}</span>'
        )
        pos = s["end"]
    out.append(html.escape(document[pos:end]))
    body = "".join(out).replace("\n", "<br>")
    return f'<div style="line-height:1.7;white-space:normal;overflow-wrap:anywhere">{body}</div>'


def _inside(sources: list[dict[str, Any]], index: int, ancestor: int) -> bool:
    """Whether source ``index`` lies under source ``ancestor`` (or is it)."""
    while index >= 0:
        if index == ancestor:
            return True
        index = sources[index]["parent"]
    return False
