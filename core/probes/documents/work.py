"""A document probe's work in tokens through the model, and what to lower when it is too much."""

from __future__ import annotations

from typing import Any

from core.runs.work import CHAT_TOKENS, MODEL_CALL_TOKENS, context_work, named, tokens_of

CONTEXT_TOKENS_CAP = 8192.0
"""Tokens of document counted at most (the bundled model's context; a longer one is cut or refused)."""


def documents_work(spec: Any) -> dict[str, float]:
    """Tokens of work of a parsed ``DocumentSpec``.

    Each ablation recomputes the document from its first removed source on (the prefix tree keeps
    what comes before): about half the document on average, then the question and the answer.
    The check adds its own ablations; a generated answer adds its decoding.
    """
    document = min(tokens_of(spec.document), CONTEXT_TOKENS_CAP)
    answer = (
        tokens_of(spec.answer_text)
        if spec.answer_text is not None
        else float(spec.generate["max_new_tokens"])
    )
    suffix = tokens_of(spec.question) + answer + 10.0 + (CHAT_TOKENS if spec.chat else 0.0)
    rows = spec.passes + len(spec.check) * (2 + spec.random_trials)
    per_row = context_work(document / 2 + suffix, document / 2) + MODEL_CALL_TOKENS / 8
    first = context_work(document + suffix, 0.0)
    generate = 0.0 if spec.answer_text is not None else first + answer * (1.0 + document / 4000.0)
    return {"documents": first + rows * per_row + generate}


def documents_lower(spec: dict[str, Any]) -> str:
    """What makes a document spec (a document) smaller, for the work limit's sentence."""
    passes = named("Forward passes", spec.get("passes", 64))
    return f"lower {passes}, attribute a shorter document, or leave out the top-k check."


def question_texts(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The texts checked against the model's context before a run: the question and a given answer
    (the document is measured by the run itself, which can cut it to the part that fits)."""
    texts = []
    if isinstance(spec.get("question"), str):
        texts.append(("question", "the question", spec["question"]))
    answer = spec.get("answer")
    if isinstance(answer, dict) and isinstance(answer.get("text"), str):
        texts.append(("answer.text", "the answer", answer["text"]))
    return texts
