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

from core.attribution.perturbation import Plan, plan_kriging

BOOTSTRAP = 64
"""Bootstrap resamples for the regression methods."""
NOISE_Z = 2.0
"""Two attributions are within the noise when they differ by less than this many standard errors."""

Combiner = Callable[[Plan, np.ndarray, dict[str, Any]], np.ndarray]


def bootstrap_stderr(
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


def paired_stderr(plan: Plan, values: np.ndarray) -> np.ndarray | None:
    """The kriging's posterior standard deviation of a paired, sampled plan; None for any other plan."""
    if not plan.extra.get("paired") or plan.extra.get("exact"):
        return None
    kriged = plan_kriging(plan, values)
    return kriged[1] if kriged is not None else None


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
