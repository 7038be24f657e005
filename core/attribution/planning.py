"""Perturbation plans by the method's declaration: how many coalitions, what a run may plan, and the
attribution and standard error of a plan (``core.attribution.methods`` holds each method's steps).

What a run may plan is declared here once: :func:`plan_problem` refuses, with a sentence, a plan
over ``MAX_PLANNED_COALITIONS`` coalitions or over ``PLAN_MEMORY_BUDGET`` bytes
(``core.attribution.perturbation``), or one its method refuses (exact Shapley over too many
features); the spec parsers call it up front, the runners again once the prompt is laid out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.attribution.methods import METHODS
from core.attribution.perturbation import (
    MAX_PLANNED_COALITIONS,
    PLAN_MEMORY_BUDGET,
    Plan,
    Poll,
    ValueFn,
    count_words,
    mask_codes,
    no_poll,
    plan_memory,
)


def plan_rows(method: str, n: int, params: dict[str, Any]) -> int:
    """How many coalitions one plan of ``method`` over ``n`` features holds (before de-duplication)."""
    return METHODS[method].rows(n, params)


def plan_problem(
    method: str,
    n: int,
    params: dict[str, Any],
    plans: int = 1,
    prompt_chars: int = 0,
    same_prompts: bool = False,
) -> str | None:
    """Why ``plans`` plans of ``method`` over ``n`` features cannot run, in one sentence; None when they can.

    Args:
        method: a perturbation method's name.
        n: features.
        params: the method's parameters.
        plans: how many plans the run makes (trials, times attributed prompts in the bias probe).
        prompt_chars: characters of the prompt with every feature present (0 leaves prompts out).
        same_prompts: every plan fills the same prompt with the same baselines (trials
            without sampled baselines), so there are at most 2^n distinct prompts in all.
    """
    refuse = METHODS[method].refuse
    problem = refuse(n, params) if refuse is not None else None
    if problem:
        return problem
    per_plan = plan_rows(method, n, params)
    rows = per_plan * plans
    if rows > MAX_PLANNED_COALITIONS:
        times = f" x {plans:,} (trials or prompts)" if plans > 1 else ""
        return (
            f"{method} over {n} features plans {count_words(per_plan)} coalitions{times} = {count_words(rows)} model "
            f"evaluations, more than the {MAX_PLANNED_COALITIONS:,} one run may plan; lower the trials or "
            "n_samples, or group slots into fewer features."
        )
    prompts = min(rows, 2**n) if same_prompts and n < 64 else rows
    memory = plan_memory(rows, n, prompt_chars, prompts)
    if memory > PLAN_MEMORY_BUDGET:
        return (
            f"{method} over {n} features plans {count_words(prompts)} prompts of about {prompt_chars:,} characters, "
            f"about {memory / 2**30:.1f} GiB, more than the {PLAN_MEMORY_BUDGET / 2**30:.0f} GiB one run may "
            "plan; lower the trials or n_samples, shorten the prompt, or group slots into fewer features."
        )
    return None



def attribute(
    method: str,
    n: int,
    value_fn: ValueFn,
    params: dict[str, Any],
    rng: np.random.Generator,
    poll: Poll = no_poll,
) -> np.ndarray:
    """Attributions (outputs x features) of a value function over coalitions of n features.

    ``value_fn`` maps a boolean mask matrix (k x n) to values (k x outputs).
    Distinct coalitions are passed once. ``poll`` is called while planning.
    """
    info = METHODS[method]
    plan = info.plan(n, params, rng, poll=poll)
    codes = mask_codes(plan.masks)
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    values = np.asarray(value_fn(plan.masks[first]), dtype=float)
    return info.combine(plan, values[inverse.reshape(-1)], params)


def method_stderr(
    method: str, plan: Plan, values: np.ndarray, params: dict[str, Any], rng: np.random.Generator
) -> np.ndarray | None:
    """Standard error (outputs x features) of one plan's attribution by its method's ``stderr``; None for an
    exact method.

    Args:
        method: the perturbation method.
        plan: its plan; ``values``: the scores of its rows (rows x outputs).
        params: the method's parameters.
        rng: draws the bootstrap resamples (seeded by the run).
    """
    stderr = METHODS[method].stderr
    return stderr(plan, values, params, rng) if stderr is not None else None
