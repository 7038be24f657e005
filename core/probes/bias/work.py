"""A bias study's work in tokens through the model, and what to lower when it is too much."""

from __future__ import annotations

from typing import Any

from core.attribution.planning import plan_rows
from core.probes.bias.settings import ATTRIBUTION_PROMPTS, ATTRIBUTION_TRIALS, resampled_values
from core.runs.work import (
    CANDIDATE_ROW_TOKENS,
    CHAT_TOKENS,
    PROMPT_ROW_TOKENS,
    SHORT_WORD_CHARS,
    STATS_VALUES_PER_TOKEN,
    TOKENIZERS,
    context_work,
    model_key,
    named,
    tokens_of,
)


def _candidate_tokens(text: str, tokenizer: Any | None) -> float:
    """A candidate's length in tokens: by the model's tokenizer when calibrated, else from its characters."""
    if tokenizer is not None:
        return float(max(len(tokenizer(text, add_special_tokens=False)["input_ids"]), 1))
    if len(text) <= SHORT_WORD_CHARS and len(text.split()) == 1:
        return 1.0
    return tokens_of(text)


def bias_work(spec: Any) -> dict[str, float]:
    """Tokens of work of a parsed ``BiasSpec``: the sweep, its attribution and its statistics.

    The sweep's prompts go through the prefix tree: the template's text before its first
    slot once, the rest per prompt. A prompt's next-token distribution scores every
    one-token candidate at once; a longer candidate is a row of its own after its prompt.
    The attribution's prompts are counted at half: about half of them are sweep prompts
    again (a slot swapped for the other group's value), scored once.
    """
    prompts = sum(len(values) for values in spec.groups.values())
    for options in spec.vary.values():
        prompts *= len(options)
    first = next(iter(spec.groups.values()))[0]
    filled = spec.prompt_template + "".join(spec.values.values()) + " ".join(first)
    prompt_tokens = tokens_of(filled) + (CHAT_TOKENS if spec.chat else 0)
    head = "".join(part.text for part in spec.parts[: next((i for i, p in enumerate(spec.parts) if p.slot), 0)])
    shared = tokens_of(head) if head and not spec.chat else 0.0
    tokenizer = TOKENIZERS.get(model_key(spec.model))
    lengths = [_candidate_tokens(c, tokenizer) for c in spec.scored_candidates()]
    per_prompt = PROMPT_ROW_TOKENS + sum(n - 1 + CANDIDATE_ROW_TOKENS for n in lengths if n > 1)
    one_prompt = context_work(prompt_tokens - shared + per_prompt, shared)
    tokens = context_work(shared, 0.0) + prompts * one_prompt
    settings = spec.attribution
    if settings.enabled:
        n = max(len(spec.slots) - sum(max(len(m) - 1, 0) for m in settings.groups.values()), 1)
        attributed = min(settings.prompts, prompts)
        rows = plan_rows(settings.method, n, settings.params) * settings.trials
        tokens += 0.5 * attributed * rows * one_prompt
    sizes = {name: len(values) for name, values in spec.groups.items()}
    resampled = resampled_values(sizes, spec.compare, len(spec.candidates), spec.bootstrap, spec.permutations)
    return {"bias": tokens + resampled / STATS_VALUES_PER_TOKEN}


def bias_lower(spec: dict[str, Any]) -> str:
    """What makes a bias spec (a document) smaller, for the work limit's sentence."""
    attribution = spec.get("attribution") if isinstance(spec.get("attribution"), dict) else {}
    prompts = named(ATTRIBUTION_PROMPTS.label, attribution.get("prompts", ATTRIBUTION_PROMPTS.default))
    trials = named(ATTRIBUTION_TRIALS.label, attribution.get("trials", ATTRIBUTION_TRIALS.default))
    return (
        f"use fewer values per group or fewer candidates, or lower the attribution's {prompts} "
        f"or {trials}, or turn the attribution off."
    )
