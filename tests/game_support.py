"""Small synthetic games for the sampling methods' tests: value functions over coalitions with known Shapley values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.attribution.methods import METHODS
from core.attribution.methods.shapley import combine_shapley
from core.attribution.perturbation import all_masks


def pair_game(n: int, seed: int) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """An additive game (output 0) and the same with pairwise interactions (output 1), and their exact Shapley values."""
    rng = np.random.default_rng(seed)
    w, pair = rng.normal(size=n), np.triu(rng.normal(size=(n, n)), 1)

    def value(masks: np.ndarray) -> np.ndarray:
        x = masks.astype(float)
        return np.stack([x @ w, x @ w + np.einsum("ki,ij,kj->k", x, pair, x)], axis=1)

    exact = combine_shapley(METHODS["shapley"].plan(n, {}, rng), value(all_masks(n)), {})
    return value, exact
