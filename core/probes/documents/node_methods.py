"""One node's game: its children's values, by a chosen method, within a forward-pass allowance.

A node's game has its children as players; ``game(masks)`` gives the value of coalitions of
them (rows of a boolean matrix). Methods:

- ``leave_one_out``: each child removed alone from all of them (``c + 1`` coalitions);
- ``shapley``: exact Shapley values over all ``2^c`` coalitions;
- ``kernel_shap``: paired sampling as the project's Kernel SHAP does it: the single children and
  their complements, then complement pairs chosen by the project's pair design
  (``core.attribution.pair_design.greedy_pairs``) from random ones, and the values and standard
  errors kriged from the pairs (``core.attribution.shapley_kriging.kriged_shapley``);
- ``context_cite``: ContextCite's sparse linear surrogate (random keep-masks, LASSO), with
  bootstrap standard errors;
- ``auto``: exact Shapley when the allowance pays for every coalition, else paired Kernel SHAP
  when it pays for the singles and their complements, else leave-one-out, else the LASSO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import factorial

import numpy as np

from core.attribution.pair_design import greedy_pairs
from core.attribution.shapley_kriging import kriged_shapley
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
POOL = 8
"""Random candidate pairs drawn per pair the Kernel SHAP plan needs."""


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
    if 2 * c + 2 <= allowance:
        return "kernel_shap"
    if c + 1 <= allowance:
        return "leave_one_out"
    return "context_cite"


def cost(method: str, c: int, allowance: int) -> int:
    """Coalitions a method scores for ``c`` children (a sampled method spends its allowance)."""
    method = resolved(method, c, allowance)
    if method == "leave_one_out":
        return c + 1
    if method == "shapley":
        return 2**c
    if method == "kernel_shap":
        return max(allowance, 2 * c + 2)
    return max(allowance, 4)


def all_masks(c: int) -> np.ndarray:
    """Every coalition of ``c`` players; row m holds player i when bit i of m is set."""
    m = np.arange(2**c, dtype=np.int64)
    return ((m[:, None] >> np.arange(c)) & 1).astype(bool)


def _distinct(game: GameFn, masks: np.ndarray) -> np.ndarray:
    """The game's value of each mask, each distinct mask asked once."""
    _keys, first, inverse = np.unique(
        np.packbits(masks, axis=1), axis=0, return_index=True, return_inverse=True
    )
    return np.asarray(game(masks[first]), dtype=float)[inverse.reshape(-1)]


def exact_shapley(values: np.ndarray, c: int) -> np.ndarray:
    """Shapley values from the values of all ``2^c`` coalitions (in ``all_masks`` order)."""
    codes = np.arange(2**c)
    sizes = all_masks(c).sum(axis=1)
    weights = np.array([factorial(s) * factorial(c - s - 1) / factorial(c) for s in range(c)])
    out = np.zeros(c)
    for i in range(c):
        without = codes[(codes >> i) & 1 == 0]
        out[i] = (weights[sizes[without]] * (values[without | (1 << i)] - values[without])).sum()
    return out


def _paired_masks(c: int, allowance: int, rng: np.random.Generator) -> np.ndarray:
    """Empty and full, the singles and their complements, then chosen complement pairs up to ``allowance`` rows."""
    eye = np.eye(c, dtype=bool)
    base = np.vstack([np.zeros((1, c), bool), eye])  # one side of each pair
    pairs = max((allowance - 2 * len(base)) // 2, 0)
    if pairs:
        sizes = rng.integers(2, max(c // 2, 2) + 1, size=POOL * pairs)
        pool = np.zeros((len(sizes), c), dtype=bool)
        for row, size in zip(pool, sizes):
            row[rng.choice(c, size=int(size), replace=False)] = True
        pool = np.unique(np.vstack([p if not p[0] else ~p for p in pool]), axis=0)  # one side of each pair
        known = {row.tobytes() for row in base}
        pool = np.array([p for p in pool if p.tobytes() not in known and (~p).tobytes() not in known])
        if len(pool):
            picked = greedy_pairs(base, pool, pairs)
            base = np.vstack([base, pool[picked]])
    return np.vstack([base, ~base])


def _kernel_shap(game: GameFn, c: int, allowance: int, rng: np.random.Generator) -> NodeValues:
    masks = _paired_masks(c, allowance, rng)
    values = _distinct(game, masks)[:, None]
    kriged = kriged_shapley(masks, values)
    if kriged is None:  # the pairs do not pin the first-degree terms: read leave-one-out from the same rows
        full, rest = values[c + 1, 0], values[c + 2 : 2 * c + 2, 0]
        return NodeValues(full - rest, None, "leave_one_out")
    return NodeValues(kriged[0][0], kriged[1][0], "kernel_shap")


def _context_cite(game: GameFn, c: int, allowance: int, rng: np.random.Generator) -> NodeValues:
    masks = np.vstack([np.ones((1, c), bool), rng.random((max(allowance - 1, 3), c)) < KEEP_PROB])
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
        ends = _distinct(game, np.array([[True], [False]]))
        return NodeValues(np.array([ends[0] - ends[1]]), None, method)
    if method == "shapley":
        return NodeValues(exact_shapley(_distinct(game, all_masks(c)), c), None, method)
    if method == "leave_one_out":
        masks = np.vstack([np.ones((1, c), bool), ~np.eye(c, dtype=bool)])
        values = _distinct(game, masks)
        return NodeValues(values[0] - values[1:], None, method)
    if method == "kernel_shap":
        return _kernel_shap(game, c, max(allowance, 2 * c + 2), rng)
    return _context_cite(game, c, allowance, rng)
