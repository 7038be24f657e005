"""One node's game: its children's values, by a chosen method, within a forward-pass allowance.

A node's game has its children as players; ``game(masks)`` gives the value of coalitions of
them (rows of a boolean matrix). Methods:

- ``leave_one_out``: each child removed alone from all of them (``c + 1`` coalitions);
- ``shapley``: exact Shapley values over all ``2^c`` coalitions;
- ``kernel_shap``: the project's paired Kernel SHAP (its pair design and kriged standard errors,
  ``core.attribution.perturbation`` and ``core.attribution.uncertainty``);
- ``context_cite``: ContextCite's sparse linear surrogate (random keep-masks, LASSO), with
  bootstrap standard errors;
- ``auto``: exact Shapley when the allowance pays for every coalition, else leave-one-out when
  it pays for that, else paired Kernel SHAP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.attribution.perturbation import PLANNERS, Plan, all_masks, mask_codes
from core.attribution.uncertainty import method_stderr
from core.probes.documents.lasso import lasso_fit

GameFn = Callable[[np.ndarray], np.ndarray]
NODE_METHODS = ("auto", "leave_one_out", "shapley", "kernel_shap", "context_cite")
"""The methods a node's children can be valued by."""
MAX_EXACT = 12
"""The most children exact Shapley is computed over."""
KEEP_PROB = 0.5
"""ContextCite's chance of keeping each source in a random ablation."""
BOOTSTRAP = 64
"""Bootstrap resamples for the LASSO surrogate's standard errors."""
_PROJECT = {"leave_one_out": "feature_ablation", "shapley": "shapley", "kernel_shap": "kernel_shap"}


@dataclass
class NodeValues:
    """The children's values, their standard errors (None: exact) and the method that gave them."""

    values: np.ndarray
    stderr: np.ndarray | None
    method: str


def resolved(method: str, c: int, allowance: int) -> str:
    """The method a node of ``c`` children runs (``auto`` resolved) with ``allowance`` coalitions."""
    if method != "auto":
        return method
    if c <= MAX_EXACT and 2**c <= allowance:
        return "shapley"
    if c + 1 <= allowance:
        return "leave_one_out"
    return "kernel_shap"


def cost(method: str, c: int, allowance: int) -> int:
    """Coalitions a method scores for ``c`` children (a sampled method spends its allowance)."""
    method = resolved(method, c, allowance)
    if method == "leave_one_out":
        return c + 1
    if method == "shapley":
        return 2**c
    return max(allowance, 4)


def _distinct(game: GameFn, masks: np.ndarray) -> np.ndarray:
    """The game's value of each mask, each distinct mask asked once."""
    _codes, first, inverse = np.unique(mask_codes(masks), return_index=True, return_inverse=True)
    return np.asarray(game(masks[first]), dtype=float)[inverse.reshape(-1)]


def _lasso_masks(c: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """The full coalition, then random keep-masks (each child kept with probability ``KEEP_PROB``)."""
    return np.vstack([np.ones((1, c), bool), rng.random((max(rows - 1, 1), c)) < KEEP_PROB])


def _context_cite(game: GameFn, c: int, allowance: int, rng: np.random.Generator) -> NodeValues:
    masks = _lasso_masks(c, allowance, rng)
    y = _distinct(game, masks)
    values = lasso_fit(masks, y)
    boots = [
        lasso_fit(masks[pick], y[pick])
        for pick in (rng.integers(0, len(y), len(y)) for _ in range(BOOTSTRAP))
    ]
    return NodeValues(values, np.std(np.stack(boots), axis=0, ddof=1), "context_cite")


def node_values(game: GameFn, c: int, method: str, allowance: int, rng: np.random.Generator) -> NodeValues:
    """The values of a node's ``c`` children in its game, by ``method``, with about ``allowance`` coalitions."""
    method = resolved(method, c, allowance)
    if c == 1:
        full = _distinct(game, np.array([[True], [False]]))
        return NodeValues(np.array([full[0] - full[1]]), None, method)
    if method == "context_cite":
        return _context_cite(game, c, allowance, rng)
    name = _PROJECT[method]
    params = {"n_samples": max(allowance - 2, 2), "paired": True} if name == "kernel_shap" else {}
    planner, combiner = PLANNERS[name]
    plan: Plan = planner(c, params, rng) if name != "shapley" else Plan(all_masks(c), {})
    values = _distinct(game, plan.masks)[:, None]
    attr = combiner(plan, values, params)[0]
    se = method_stderr(name, plan, values, params, combiner, rng)
    return NodeValues(attr, None if se is None else se[0], method)
