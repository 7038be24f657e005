"""Standard errors of sampled attributions, and when two features' order is within the noise.

A sampling method's attribution is an estimate; its standard error says how much
it would move with another seed:

- ``shapley_sampling`` and ``kernel_shap`` with ``paired`` (the dashboard's default):
  the kriging's posterior standard deviation, its scale set by how far the scored
  pairs stray from the first-degree fit (:func:`~core.attribution.shapley_kriging.kriged_shapley`;
  on the benchmark's prompts it came within 0.9-1.2x of the real spread over seeds);
- ``shapley_sampling`` without ``paired``: the spread of each ordering's marginal
  contributions over the square root of their number;
- ``kernel_shap`` without ``paired``, and ``lime``: a bootstrap over the drawn coalitions
  (the model is not asked again: the fit is redone on resampled rows);
- ``gradient_shap`` (in ``core.attribution.gradient``): the spread of each random point's
  attribution over the square root of the points (:func:`trials_stderr` on the points);
- several trials with sampled baselines: the spread of the trials' attributions over
  the square root of the trials (this covers the method's own sampling too).

Exact methods (feature ablation, exact Shapley, Kernel SHAP over every coalition)
have none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from core.attribution.perturbation import Plan, contributions, plan_kriging

BOOTSTRAP = 64
"""Bootstrap resamples for the regression methods."""
NOISE_Z = 2.0
"""Two attributions are within the noise when they differ by less than this many standard errors."""

Combiner = Callable[[Plan, np.ndarray, dict[str, Any]], np.ndarray]


def _bootstrap(
    plan: Plan, values: np.ndarray, params: dict[str, Any], combiner: Combiner, fixed: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Std of ``combiner`` over resamples of the plan's sampled rows (the first ``fixed`` rows kept)."""
    sampled = plan.extra.get("sampled")
    rows = np.arange(fixed, len(plan.masks))
    if sampled is not None:
        rows = rows[np.asarray(sampled, dtype=bool)]
    if len(rows) < 2:
        return None
    keep = np.setdiff1d(np.arange(len(plan.masks)), rows)
    weights = plan.extra.get("weights")
    estimates = []
    for _ in range(BOOTSTRAP):
        pick = np.concatenate([keep, rng.choice(rows, size=len(rows), replace=True)])
        pick = np.concatenate([pick[:fixed], np.sort(pick[fixed:])])
        extra = dict(plan.extra)
        if weights is not None:
            extra["weights"] = np.asarray(weights)[pick[fixed:] - fixed]
        estimates.append(combiner(Plan(plan.masks[pick], extra), values[pick], params))
    return np.std(np.stack(estimates), axis=0, ddof=1)


def method_stderr(
    method: str,
    plan: Plan,
    values: np.ndarray,
    params: dict[str, Any],
    combiner: Combiner,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """Standard error (outputs x features) of one plan's attribution; None for an exact method.

    Args:
        method: the perturbation method.
        plan: its plan; ``values``: the scores of its rows (rows x outputs).
        params: the method's parameters; ``combiner``: the method's combine step.
        rng: draws the bootstrap resamples (seeded by the run).
    """
    if method in ("shapley_sampling", "kernel_shap") and plan.extra.get("paired") and not plan.extra.get("exact"):
        kriged = plan_kriging(plan, values)
        if kriged is not None:
            return kriged[1]
    if method == "shapley_sampling":
        units = contributions(plan, values)  # units x outputs x features
        if len(units) < 2:
            return None
        return units.std(axis=0, ddof=1) / np.sqrt(len(units))
    if method == "kernel_shap" and plan.extra.get("exact"):
        return None
    if method == "kernel_shap":
        return _bootstrap(plan, values, params, combiner, 2, rng)
    if method == "lime":
        return _bootstrap(plan, values, params, combiner, 1, rng)
    return None


def trials_stderr(attrs: list[np.ndarray]) -> np.ndarray | None:
    """Standard error of the mean of several trials' attributions (None for one trial)."""
    if len(attrs) < 2:
        return None
    stack = np.stack(attrs)
    return stack.std(axis=0, ddof=1) / np.sqrt(len(attrs))


def within_noise(values: list[float], stderr: list[float] | None, z: float = NOISE_Z) -> bool:
    """Whether the two largest attributions differ by less than ``z`` standard errors of their difference."""
    if stderr is None or len(values) < 2:
        return False
    order = np.argsort(-np.asarray(values, dtype=float), kind="stable")
    first, second = int(order[0]), int(order[1])
    spread = float(np.hypot(stderr[first], stderr[second]))
    return spread > 0 and abs(values[first] - values[second]) < z * spread
