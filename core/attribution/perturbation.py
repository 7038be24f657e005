"""Perturbation methods over coalitions of features.

Each method is two pure steps: ``plan`` draws the coalitions (boolean masks,
one row per evaluation, True = feature present) and ``combine`` turns their
values into attributions. Values are a matrix (coalitions x outputs): the
sequence score and each output token's score side by side, so every method
gives per-token attributions from the same evaluations. The engine evaluates
each distinct coalition once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import comb, factorial
from typing import Any

import numpy as np

from core.errors import SpecError

ValueFn = Callable[[np.ndarray], np.ndarray]


def all_masks(n: int) -> np.ndarray:
    """Every coalition of n features; row m has feature i present when bit i of m is set."""
    m = np.arange(2**n, dtype=np.int64)
    return ((m[:, None] >> np.arange(n)) & 1).astype(bool)


def mask_codes(masks: np.ndarray) -> np.ndarray:
    """Integer code of each mask (bit i = feature i), for de-duplication."""
    n = masks.shape[1]
    return (masks.astype(np.int64) << np.arange(n, dtype=np.int64)).sum(axis=1)


@dataclass
class Plan:
    """Coalitions to evaluate and what the combiner needs to know about them."""

    masks: np.ndarray
    extra: dict[str, Any]


# ---------------------------------------------------------------- ablation


def plan_ablation(n: int, params: dict[str, Any], rng: np.random.Generator) -> Plan:
    """All features, then each feature removed alone."""
    masks = np.ones((n + 1, n), dtype=bool)
    masks[np.arange(1, n + 1), np.arange(n)] = False
    return Plan(masks, {})


def combine_ablation(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """attr[:, i] = v(all) - v(all without i)."""
    return (values[0][None, :] - values[1:]).T


# ---------------------------------------------------------------- exact Shapley


def plan_shapley(n: int, params: dict[str, Any], rng: np.random.Generator) -> Plan:
    """All 2^n coalitions (each distinct coalition once)."""
    limit = int(params.get("max_features", 12))
    if n > limit:
        raise SpecError(
            "method.name",
            f"exact Shapley values over {n} features need {2**n:,} model evaluations, more than "
            f"the limit of {limit} features allows; use shapley_sampling or kernel_shap, or group "
            "slots into fewer features.",
        )
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


# ---------------------------------------------------------------- Shapley sampling


def plan_shapley_sampling(n: int, params: dict[str, Any], rng: np.random.Generator) -> Plan:
    """Random feature orderings; each ordering's growing prefixes are coalitions."""
    n_perm = int(params.get("n_samples", 25))
    perms = np.array([rng.permutation(n) for _ in range(n_perm)])
    masks = np.zeros((n_perm * (n + 1), n), dtype=bool)
    for p, perm in enumerate(perms):
        for j in range(1, n + 1):
            masks[p * (n + 1) + j, perm[:j]] = True
    return Plan(masks, {"perms": perms})


def combine_shapley_sampling(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Average marginal contribution of each feature over the sampled orderings."""
    perms = plan.extra["perms"]
    n_perm, n = perms.shape
    attr = np.zeros((values.shape[1], n))
    for p, perm in enumerate(perms):
        block = values[p * (n + 1) : (p + 1) * (n + 1)]
        deltas = block[1:] - block[:-1]
        attr[:, perm] += deltas.T
    return attr / n_perm


# ---------------------------------------------------------------- Kernel SHAP


def _shap_kernel(n: int, size: np.ndarray) -> np.ndarray:
    return (n - 1) / (np.array([comb(n, int(s)) for s in size]) * size * (n - size))


def plan_kernel_shap(n: int, params: dict[str, Any], rng: np.random.Generator) -> Plan:
    """Coalitions for Kernel SHAP: all of them when affordable, else drawn by the SHAP kernel.

    The empty and full coalitions are always included (they fix the efficiency
    constraint). With every coalition and the exact kernel weights the result
    equals exact Shapley values.
    """
    n_samples = int(params.get("n_samples", 200))
    empty, full = np.zeros((1, n), bool), np.ones((1, n), bool)
    if n == 1:
        return Plan(np.vstack([empty, full]), {"weights": np.zeros(0)})
    if n_samples >= 2**n - 2 or n <= 2:
        inner = all_masks(n)[1:-1]
        weights = _shap_kernel(n, inner.sum(axis=1))
        return Plan(np.vstack([empty, full, inner]), {"weights": weights})
    sizes = np.arange(1, n)
    p = (n - 1) / (sizes * (n - sizes))
    p = p / p.sum()
    drawn = rng.choice(sizes, size=n_samples, p=p)
    inner = np.zeros((n_samples, n), dtype=bool)
    for r, s in enumerate(drawn):
        inner[r, rng.choice(n, size=int(s), replace=False)] = True
    return Plan(np.vstack([empty, full, inner]), {"weights": np.ones(n_samples)})


def combine_kernel_shap(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Weighted least squares under the constraint sum(attr) = v(all) - v(none)."""
    n = plan.masks.shape[1]
    v_empty, v_full = values[0], values[1]
    total = v_full - v_empty
    if n == 1:
        return total[:, None].copy()
    z = plan.masks[2:].astype(float)
    w = plan.extra["weights"]
    y = values[2:] - v_empty[None, :] - z[:, -1:] * total[None, :]
    x = z[:, :-1] - z[:, -1:]
    sw = np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(x * sw, y * sw, rcond=None)
    last = total - coef.sum(axis=0)
    return np.vstack([coef, last[None, :]]).T


# ---------------------------------------------------------------- LIME


def plan_lime(n: int, params: dict[str, Any], rng: np.random.Generator) -> Plan:
    """The full prompt plus random coalitions (each feature kept with probability 1/2)."""
    n_samples = int(params.get("n_samples", 100))
    drawn = rng.random((n_samples, n)) < 0.5
    return Plan(np.vstack([np.ones((1, n), bool), drawn]), {})


def lime_weights(masks: np.ndarray, kernel_width: float) -> np.ndarray:
    """Similarity of each coalition to the full prompt: exp(-d^2 / width^2), cosine distance."""
    n = masks.shape[1]
    k = masks.sum(axis=1)
    cosine = np.where(k > 0, np.sqrt(k / n), 0.0)
    distance = 1.0 - cosine
    return np.exp(-(distance**2) / kernel_width**2)


def combine_lime(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Coefficients of a weighted (optionally ridge) linear model with an intercept."""
    masks = plan.masks
    n = masks.shape[1]
    w = lime_weights(masks, float(params.get("kernel_width", 1.0)))
    x = np.hstack([masks.astype(float), np.ones((len(masks), 1))])
    sw = np.sqrt(w)[:, None]
    alpha = float(params.get("alpha", 0.0))
    if alpha > 0:
        xtx = (x * sw).T @ (x * sw)
        reg = alpha * np.eye(n + 1)
        reg[-1, -1] = 0.0
        coef = np.linalg.solve(xtx + reg, (x * sw).T @ (values * sw))
    else:
        coef, *_ = np.linalg.lstsq(x * sw, values * sw, rcond=None)
    return coef[:n].T


PLANNERS = {
    "feature_ablation": (plan_ablation, combine_ablation),
    "shapley": (plan_shapley, combine_shapley),
    "shapley_sampling": (plan_shapley_sampling, combine_shapley_sampling),
    "kernel_shap": (plan_kernel_shap, combine_kernel_shap),
    "lime": (plan_lime, combine_lime),
}


def attribute(
    method: str, n: int, value_fn: ValueFn, params: dict[str, Any], rng: np.random.Generator
) -> np.ndarray:
    """Attributions (outputs x features) of a value function over coalitions of n features.

    ``value_fn`` maps a boolean mask matrix (k x n) to values (k x outputs).
    Distinct coalitions are passed once.
    """
    planner, combiner = PLANNERS[method]
    plan = planner(n, params, rng)
    codes = mask_codes(plan.masks)
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    values = np.asarray(value_fn(plan.masks[first]), dtype=float)
    return combiner(plan, values[inverse.reshape(-1)], params)
