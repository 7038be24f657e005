"""One node's game: its children's values, by a chosen method, within a forward-pass allowance.

A node's game has its children as players; ``game(masks)`` gives the value of coalitions of
them (rows of a boolean matrix). The methods are the rows of ``METHODS`` (a ``NodeMethod`` each:
how it values the children, what it costs, when ``auto`` may pick it, its label); adding one is
one function and one row:

- ``leave_one_out``: each child removed alone from all of them (``c + 1`` coalitions);
- ``shapley``: exact Shapley values over all ``2^c`` coalitions;
- ``kernel_shap``: paired sampling as the project's Kernel SHAP does it: the single children and
  their complements, then complement pairs chosen by the project's pair design
  (``core.attribution.pair_design.greedy_pairs``) from random ones, and the values and standard
  errors kriged from the pairs (``core.attribution.shapley_kriging.kriged_shapley``);
- ``context_cite``: ContextCite's sparse linear surrogate (random keep-masks, LASSO), with
  bootstrap standard errors;
- ``auto``: the first method, by ``auto_rank``, whose ``fits`` says the allowance pays for it:
  exact Shapley when it pays for every coalition, else paired Kernel SHAP when it pays for the
  singles and their complements, else leave-one-out, else the LASSO.
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


def _leave_one_out(game: GameFn, c: int, _allowance: int, _rng: np.random.Generator) -> NodeValues:
    masks = np.vstack([np.ones((1, c), bool), ~np.eye(c, dtype=bool)])
    values = _distinct(game, masks)
    return NodeValues(values[0] - values[1:], None, "leave_one_out")


def _shapley(game: GameFn, c: int, _allowance: int, _rng: np.random.Generator) -> NodeValues:
    return NodeValues(exact_shapley(_distinct(game, all_masks(c)), c), None, "shapley")


def _kernel_shap(game: GameFn, c: int, allowance: int, rng: np.random.Generator) -> NodeValues:
    masks = _paired_masks(c, max(allowance, 2 * c + 2), rng)
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




@dataclass(frozen=True)
class NodeMethod:
    """One way to value a node's children: a row of ``METHODS``.

    Attributes:
        name: the spec's ``method`` value.
        label: its name in the form.
        value: ``(game, children, allowance, rng)`` -> the children's values (``NodeValues``).
        cost: ``(children, allowance)`` -> the coalitions it scores (a sampled method spends its allowance).
        fits: ``(children, allowance)`` -> whether the allowance pays for it, when ``auto`` chooses.
        auto_rank: ``auto`` tries the methods from the lowest rank up and takes the first that fits.
        ends: how many of the two coalitions "every child" and "no child" it scores (1 unless told; in document contexts
            both are known before a node is opened: they cost it nothing).
    """

    name: str
    label: str
    value: Callable[[GameFn, int, int, np.random.Generator], NodeValues]
    cost: Callable[[int, int], int]
    fits: Callable[[int, int], bool]
    auto_rank: int
    ends: int = 1


METHODS: dict[str, NodeMethod] = {
    m.name: m
    for m in (
        NodeMethod(
            "leave_one_out", "Leave one out", _leave_one_out,
            cost=lambda c, _a: c + 1, fits=lambda c, a: c + 1 <= a, auto_rank=2,
        ),
        NodeMethod(
            "shapley", "Exact Shapley", _shapley,
            cost=lambda c, _a: 2**c, fits=lambda c, a: c <= MAX_EXACT and 2**c <= a, auto_rank=0, ends=2,
        ),
        NodeMethod(
            "kernel_shap", "Kernel SHAP (paired)", _kernel_shap,
            cost=lambda c, a: max(a, 2 * c + 2), fits=lambda c, a: 2 * c + 2 <= a, auto_rank=1, ends=2,
        ),
        NodeMethod(
            "context_cite", "ContextCite (LASSO)", _context_cite,
            cost=lambda _c, a: max(a, 4), fits=lambda _c, _a: True, auto_rank=3,
        ),
    )
}
"""Every method a node's children can be valued by, by name (the form's order)."""
AUTO = "auto"
"""The method that picks one of ``METHODS`` per node, by what the allowance pays for."""
NODE_METHODS = (AUTO, *METHODS)
"""The names a spec's ``method`` may take."""


def resolved(method: str, c: int, allowance: int) -> NodeMethod:
    """The method a node of ``c`` children runs (``auto`` resolved) with ``allowance`` coalitions."""
    if method != AUTO:
        return METHODS[method]
    ranked = sorted(METHODS.values(), key=lambda m: m.auto_rank)
    return next((m for m in ranked if m.fits(c, allowance)), ranked[-1])


def cost(method: str, c: int, allowance: int) -> int:
    """Coalitions a method scores for ``c`` children (a sampled method spends its allowance)."""
    return resolved(method, c, allowance).cost(c, allowance)


def ends_scored(method: str, c: int, allowance: int) -> int:
    """How many of the coalitions "every child" and "no child" the method run for ``c`` children scores."""
    return resolved(method, c, allowance).ends


def node_values(game: GameFn, c: int, method: str, allowance: int, rng: np.random.Generator) -> NodeValues:
    """The values of a node's ``c`` children in its game, by ``method``, with about ``allowance`` coalitions."""
    chosen = resolved(method, c, allowance)
    if c == 1:
        ends = _distinct(game, np.array([[True], [False]]))
        return NodeValues(np.array([ends[0] - ends[1]]), None, chosen.name)
    return chosen.value(game, c, allowance, rng)
