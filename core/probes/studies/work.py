"""A study's work in tokens through the model, and what to lower when it is too much."""

from __future__ import annotations

from typing import Any

from core.runs.work import context_work, tokens_of


def study_work(spec: Any) -> dict[str, float]:
    """Tokens of work of a parsed ``StudySpec``, over all its models.

    A question's context is computed once for all its answers (the prefix tree), each answer after it;
    a pair's two sentences share their start (minimal pairs differ late), counted at three quarters.
    """
    per_model = 0.0
    for item in spec.items:
        context = item.options[0].context
        shared = tokens_of(context) if context else 0.0
        rest = sum(tokens_of(o.continuation) for o in item.options)
        if item.kind == "pair" and not context:
            rest *= 0.75
        per_model += context_work(shared, 0.0) + context_work(rest, shared)
    return {"study": per_model * len(spec.models)}


def study_lower(spec: dict[str, Any]) -> str:
    """What makes a study (a document) smaller, for the work limit's sentence."""
    return "split the item file into smaller parts, or compare fewer models at once."
