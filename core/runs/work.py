"""Counting a run's work in tokens through the model, from its spec alone (shared by every kind's count).

Each run kind counts its own work (``RunKind.work``: ``core.attribution.work``,
``core.probes.bias.work``, ``core.probes.few_shot.work``) with these helpers;
``core.runs.estimate`` turns the count into seconds and ``core.runs.limit`` refuses
a run over the work limit with the kind's own hint of what to lower (``RunKind.lower``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

CHARS_PER_TOKEN = 4.0
"""Characters per token of English text with the bundled model's tokenizer (about 4.2)."""
CHAT_TOKENS = 30
"""Tokens a chat template adds around the prompt (the bundled model's system prompt and markers)."""
MODEL_CALL_TOKENS = 64
"""One more model call costs about as much as this many tokens on a CPU (``BatchedScorer.call_cost_tokens``).
Measured on 2 cores with the bundled model: a call of 32 tokens takes 79 ms, of 128 tokens 148 ms (about
56 ms + 0.72 ms a token); small batches run below full speed, so a call is weighed a little above 56."""
BACKWARD_PER_OUTPUT = 2.0
"""A gradient point's backward pass for one output token costs about this many forwards of the point
(``GradientEngine`` runs one backward per output token over each chunk's graph)."""
CONTEXT_TOKENS = 12000.0
"""A token computed after this many tokens of context costs twice one at the start (attention reads the
context). Set from ``bench/bench_presets.py``: on a CPU, 3,000 words (about 4,000 tokens) cost little more per
token than short prompts (3,000 here overestimated that case 3x in CPU time); attention's share grows past that."""
PROMPT_ROW_TOKENS = 8.0
"""Reading a prompt's candidates at its end costs about this many tokens (bias sweeps; fitted with
``bench/bench_presets.py`` on the bias presets, with :data:`CANDIDATE_ROW_TOKENS`)."""
CANDIDATE_ROW_TOKENS = 10.0
"""A candidate of more than one token is a row of its own after its prompt: this many tokens besides its own."""
SHORT_WORD_CHARS = 10
"""Without the model's tokenizer, a one-word candidate this short or shorter counts as one token."""
TOKENIZERS: dict[str, Any] = {}
"""The tokenizer of each calibrated model (by :func:`model_key`): candidates' lengths are counted with it."""
STATS_VALUES_PER_TOKEN = 500_000.0
"""Resampled scores the bias statistics read in the time of one token of work (about 6 ns each)."""


def tokens_of(text: str) -> float:
    """Tokens of a text, from its characters (at least one)."""
    return max(len(text) / CHARS_PER_TOKEN, 1.0)


def context_work(tokens: float, context: float) -> float:
    """Work of ``tokens`` computed after ``context`` tokens: each costs more the more it attends to."""
    return tokens * (1.0 + (context + tokens / 2) / CONTEXT_TOKENS)


def prefix_tree_work(
    segments: list[float], distinct: Callable[[int], float], rows: float, suffix: float
) -> float:
    """Tokens through the model of ``rows`` prompts scored by a prefix-sharing scorer, with their context.

    The prompts are ``segments`` (token lengths, in order, each kept or swapped per prompt);
    ``distinct(k)`` says how many distinct prefixes the prompts have over the first ``k``
    segments: each distinct prefix is computed once, and every prompt computes its own
    ``suffix`` (the target, or a query and its labels) after the whole prompt.
    This is the one place to switch to the scorer's own count of computed tokens.
    """
    rows = float(min(rows, 1e300))  # 2**n prompts of a huge n: an estimate past any limit, not an overflow
    work, context = 0.0, 0.0
    for k, length in enumerate(segments):
        work += min(distinct(k + 1), rows) * context_work(length, context)
        context += length
    return work + rows * context_work(suffix, context)


def model_key(model: Any) -> str:
    """The key speeds and tokenizers are kept under: the spec's model field ("default", or its object as JSON)."""
    if isinstance(model, dict):
        return json.dumps(model, sort_keys=True)
    return str(model or "default")


def named(label: str, value: Any) -> str:
    """A form label in quotes, with the spec's value when it is a number: '"Samples" (now 30)'."""
    quoted = f'"{label}"'
    return f"{quoted} (now {value:,})" if isinstance(value, int) and not isinstance(value, bool) else quoted
