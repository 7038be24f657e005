"""An attribution run's work in tokens through the model, and what to lower when it is too much."""

from __future__ import annotations

import math
import re
import string
from typing import Any

from core.attribution.methods import METHODS
from core.attribution.planning import plan_rows
from core.attribution.spec import TRIALS
from core.runs.work import (
    BACKWARD_PER_OUTPUT,
    CHAT_TOKENS,
    MODEL_CALL_TOKENS,
    context_work,
    named,
    prefix_tree_work,
    tokens_of,
)


def _ablation_prefixes(k: int) -> float:
    """Distinct prefixes over k features of feature ablation's prompts: all kept, or one of them removed."""
    return k + 1.0


def _random_prefixes(k: int) -> float:
    """Distinct prefixes over k features of prompts with random coalitions (each feature in or out)."""
    return 2.0 ** min(k, 60)


def _text_features(text: str, granularity: str) -> int:
    """About how many features a plain-text prompt is cut into."""
    if granularity == "token":
        return math.ceil(tokens_of(text))
    if granularity == "word":
        return len(re.findall(r"\S+", text))
    if granularity == "sentence":
        return len([s for s in re.split(r"(?<=[.!?。])\s*", text) if s.strip()])
    if granularity == "line":
        return len([s for s in text.splitlines() if s.strip()])
    return len([s for s in re.split(r"\n\s*\n", text) if s.strip()])


def _template_text(prompt: dict[str, Any]) -> tuple[str, int]:
    """A template prompt filled with its values, and its number of features (slots, groups as one)."""
    template = str(prompt.get("template", ""))
    values = prompt.get("values") or {}
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    slots = list(dict.fromkeys(fields)) if not isinstance(values, list) else list(range(len(values)))
    grouped = sum(max(len(members) - 1, 0) for members in (prompt.get("groups") or {}).values())
    filled = template
    for value in values.values() if isinstance(values, dict) else values:
        filled += str(value)
    return filled, max(len(slots) - grouped, 1)


def _prompt_segments(prompt: dict[str, Any]) -> list[float]:
    """A prompt's features as token lengths in order (the text between them spread over them)."""
    if "template" in prompt:
        text, n = _template_text(prompt)
    else:
        text = str(prompt.get("text", ""))
        n = _text_features(text, prompt["granularity"])
    n = max(n, 1)
    return [tokens_of(text) / n] * n


def _work(spec: Any) -> tuple[str, float]:
    """(family, tokens) of one parsed attribution ``RunSpec``: tokens through the model with their context."""
    prompt = spec.prompt
    segments = _prompt_segments(prompt)
    if spec.chat:
        segments[0] += CHAT_TOKENS
    n = len(segments)
    prompt_tokens = sum(segments)
    target = spec.target
    generate = target.get("generate")
    if generate is not None:
        target_tokens = float(generate.get("max_new_tokens", 25))
        extra = target_tokens * MODEL_CALL_TOKENS + prompt_tokens  # generating it, token by token
    else:
        target_tokens = tokens_of(str(target.get("text", "")))
        extra = 0.0
    targets = 2 if target.get("contrast") is not None else 1
    if targets == 2:
        target_tokens = (target_tokens + tokens_of(str(target["contrast"]))) / 2
    if spec.method.family == "gradient":
        params = spec.params
        points = int(spec.method.setting(params, spec.method.work_param) if spec.method.work_param else 1)
        # each point: a forward over prompt + target, and a backward per output token (no prefix shared)
        per_point = context_work(prompt_tokens + target_tokens, 0.0) * (1 + BACKWARD_PER_OUTPUT * target_tokens)
        return "gradient", extra + (points + 2) * targets * per_point
    rows = plan_rows(spec.method_name, n, spec.params) * spec.trials
    bases = prompt.get("baselines") or {}
    per_slot = bases.values() if isinstance(bases, dict) else bases  # by slot name, or positional
    if "template" not in prompt or not any(isinstance(b, list) for b in per_slot):
        rows = min(rows, 2**n) if n < 40 else rows  # the same prompts in every trial are scored once
    one_change = spec.method.single_removals and rows <= n + 1
    suffix = target_tokens + MODEL_CALL_TOKENS / 8
    work = prefix_tree_work(segments, _ablation_prefixes if one_change else _random_prefixes, rows, suffix)
    if spec.faithfulness:  # deletion and insertion curves: random-looking coalitions
        work += prefix_tree_work(segments, _random_prefixes, 2 * n, suffix)
    return "perturbation", extra + work * targets


def attribution_work(spec: Any) -> dict[str, float]:
    """Tokens of work of a parsed attribution ``RunSpec``, under its method's family."""
    family, tokens = _work(spec)
    return {family: tokens}


def compare_work(spec: Any) -> dict[str, float]:
    """Tokens of work of a parsed ``CompareSpec``: each method's run, per family."""
    tokens: dict[str, float] = {}
    for run in spec.runs:
        family, work = _work(run)
        tokens[family] = tokens.get(family, 0.0) + work
    return tokens


def attribution_lower(spec: dict[str, Any]) -> str:
    """What makes an attribution spec (a document) smaller, for the work limit's sentence."""
    method = spec.get("method") if isinstance(spec.get("method"), dict) else {}
    info = METHODS.get(str(method.get("name")))
    trials = named(TRIALS.label, spec.get("trials", TRIALS.default))
    if info is None:
        return f"lower the method's samples or steps, or {trials}."
    work = [p for p in info.params if p.name == info.work_param]
    if work:
        p = work[0]
        setting = named(p.label, method.get(p.name, p.default))
        return f"lower {setting}" + ("." if info.family == "gradient" else f" or {trials}.")
    if info.lower:
        return f"{info.lower}; or lower {trials}."
    return f"explain fewer parts (fewer slots, or a coarser granularity), or lower {trials}."
