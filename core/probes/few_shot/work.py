"""A few-shot run's work in tokens through the model, and what to lower when it is too much."""

from __future__ import annotations

from typing import Any

from core.probes.few_shot.run import computed_tokens_estimate
from core.probes.few_shot.settings import MAX_EXACT, N_SAMPLES, ORDER_TRIALS, few_shot_cost
from core.runs.work import CHAT_TOKENS, MODEL_CALL_TOKENS, named, tokens_of


def few_shot_work(spec: Any) -> dict[str, float]:
    """Tokens of work of a parsed ``FewShotSpec``: the tokens its prefix tree runs (each shared prefix once)."""
    cost = few_shot_cost(
        spec.n_features, len(spec.queries), len(spec.labels), spec.method, spec.max_exact, spec.n_samples,
        spec.order_trials,
    )
    chat = (CHAT_TOKENS + cost.prompts * CHAT_TOKENS / 6) if spec.chat else 0.0  # the system prompt once, the turn's end per prompt
    return {"few_shot": computed_tokens_estimate(spec, tokens_of) + chat + cost.prompts * MODEL_CALL_TOKENS / 32}


def few_shot_lower(spec: dict[str, Any]) -> str:
    """What makes a few-shot spec (a document) smaller, for the work limit's sentence."""
    method = spec.get("method") if isinstance(spec.get("method"), dict) else {}
    numbers = {**method, **spec}  # max_exact and n_samples may sit in the method object
    samples = named(N_SAMPLES.label, numbers.get("n_samples", N_SAMPLES.default))
    orders = named(ORDER_TRIALS.label, numbers.get("order_trials", ORDER_TRIALS.default))
    exact = named(MAX_EXACT.label, numbers.get("max_exact", MAX_EXACT.default))
    return (
        f"use fewer examples or queries, lower {samples} or {orders}, or lower {exact}: "
        "exact values double with every example."
    )
