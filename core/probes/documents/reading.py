"""A document result in words: the sources the answer rests on, and whether removing them hurts it."""

from __future__ import annotations

from typing import Any

from core.text import counted


def source_text(result: dict[str, Any], index: int, limit: int = 160) -> str:
    """A source's text, cut to ``limit`` characters."""
    source = result["sources"][index]
    text = result["spec"]["document"][source["start"] : source["end"]].strip()
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def summary_line(result: dict[str, Any]) -> str:
    """One sentence: the top source, its value, and what removing the top sources does beside random ones."""
    ranked = result["ranked"]
    if not ranked:
        return "No source was measured."
    top = result["sources"][ranked[0]]
    line = (
        f"The answer rests most on the {top['level']} \u201c{source_text(result, ranked[0], 90)}\u201d "
        f"({top['value']:+.2f} log-probability)"
    )
    row = next((r for r in result["top_k"] if r["k"] >= min(3, len(ranked))), None)
    if row is not None and row.get("random_drop") is not None:
        line += (
            f"; removing the top {counted(row['k'], 'source')} lowers the answer's log-probability by "
            f"{row['drop']:.2f}, against {row['random_drop']:.2f} for as many random ones"
        )
    return line + "."
