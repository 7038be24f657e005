"""Small text rules shared by the whole package: unique labels and the first line of an error."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def unique_labels(labels: Iterable[str], blank: Callable[[str], str] | None = None) -> list[str]:
    """Labels made unique: a repeated label gets its occurrence number, "the (2)", "the (3)".

    Args:
        labels: the labels, in order.
        blank: how a label that would show as nothing is written instead (for
            example ``"(empty)"``); called on every label, it returns the label
            itself when the label is fine. None keeps labels as they are.
    """
    counts: dict[str, int] = {}
    out = []
    for label in labels:
        base = blank(label) if blank else label
        counts[base] = counts.get(base, 0) + 1
        out.append(base if counts[base] == 1 else f"{base} ({counts[base]})")
    return out


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (for a sentence), or its type name when it has none."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__
