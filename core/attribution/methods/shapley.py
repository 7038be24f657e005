"""Exact Shapley values: every coalition of the features, weighted by its size."""

from __future__ import annotations

from math import factorial
from typing import Any

import numpy as np

from core.attribution.methods.declaration import MethodInfo, Param
from core.attribution.perturbation import Plan, Poll, all_masks, count_words, no_poll
from core.errors import SpecError


def refuse(n: int, params: Any) -> str | None:
    """Why exact Shapley values over ``n`` features cannot run (more than ``max_features``), else None."""
    limit = int(METHOD.setting(params, "max_features"))
    if n <= limit:
        return None
    return (
        f"exact Shapley values over {n} features need {count_words(2**n)} model evaluations, more than "
        f"the limit of {limit} features allows; use shapley_sampling or kernel_shap, or group "
        "slots into fewer features."
    )


def rows(n: int, params: Any) -> int:
    """Every coalition: 2^n."""
    return 2**n


def plan_shapley(n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = no_poll) -> Plan:
    """All 2^n coalitions (each distinct coalition once); a SpecError above ``max_features``."""
    problem = refuse(n, params)
    if problem:
        raise SpecError("method.name", problem)
    return Plan(all_masks(n), {})



def combine_shapley(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Exact Shapley values from the values of all 2^n coalitions."""
    n = plan.masks.shape[1]
    sizes = plan.masks.sum(axis=1)
    weights = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    codes = np.arange(2**n)
    attr = np.zeros((values.shape[1], n))
    for i in range(n):
        without = codes[(codes >> i) & 1 == 0]
        with_i = without | (1 << i)
        w = weights[sizes[without]]
        attr[:, i] = (w[:, None] * (values[with_i] - values[without])).sum(axis=0)
    return attr


METHOD = MethodInfo(
    "shapley",
    "Shapley values (exact)",
    "perturbation",
    "Averages each feature's effect over every combination of the other features; "
    "exact but needs 2^n model evaluations.",
    (
        Param(
            "max_features",
            "int",
            12,
            "Most features",
            "Refuse exact Shapley above this many features (2^n evaluations).",
            1,
            20,
        ),
    ),

    plan=plan_shapley,
    combine=combine_shapley,
    rows=rows,
    refuse=refuse,
    lower="exact Shapley values double with every feature: group slots into fewer features, or choose "
    "Shapley value sampling",
)
