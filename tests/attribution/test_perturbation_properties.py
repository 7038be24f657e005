"""Properties of the perturbation methods on value functions with known answers."""

from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import pytest

from core.attribution.methods.shapley import plan_shapley
from core.attribution.perturbation import all_masks
from core.attribution.planning import attribute
from core.errors import SpecError


def _game(n: int, seed: int = 0):
    """A random non-linear coalition game with two outputs."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(2**n, 2))

    def value(masks: np.ndarray) -> np.ndarray:
        codes = (masks.astype(int) << np.arange(n)).sum(axis=1)
        return table[codes]

    return value, table


def _smooth_game(n: int, seed: int = 0):
    """Linear effects, pairwise interactions and a little noise: what prompts look like."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, 2))
    u = np.triu(rng.normal(scale=0.3, size=(n, n)), 1)
    masks = all_masks(n).astype(float)
    table = masks @ w + np.einsum("ki,ij,kj->k", masks, u, masks)[:, None]
    table += rng.normal(scale=0.05, size=table.shape)

    def value(m: np.ndarray) -> np.ndarray:
        return table[(m.astype(int) << np.arange(n)).sum(axis=1)]

    return value, table


def _brute_force_shapley(n: int, table: np.ndarray) -> np.ndarray:
    """Shapley values by the permutation definition (n! orderings)."""
    phi = np.zeros((table.shape[1], n))
    for perm in itertools.permutations(range(n)):
        code = 0
        for i in perm:
            phi[:, i] += table[code | (1 << i)] - table[code]
            code |= 1 << i
    return phi / factorial(n)


def test_exact_shapley_equals_permutation_definition():
    value, table = _game(5)
    ours = attribute("shapley", 5, value, {}, np.random.default_rng(0))
    np.testing.assert_allclose(ours, _brute_force_shapley(5, table), atol=1e-12)


def test_shapley_sums_to_all_minus_none():
    value, table = _game(6, seed=3)
    phi = attribute("shapley", 6, value, {}, np.random.default_rng(0))
    np.testing.assert_allclose(phi.sum(axis=1), table[-1] - table[0], atol=1e-12)


def test_each_distinct_coalition_is_evaluated_once():
    seen: list[int] = []

    def value(masks: np.ndarray) -> np.ndarray:
        seen.extend((masks.astype(int) << np.arange(masks.shape[1])).sum(axis=1).tolist())
        return masks.sum(axis=1, keepdims=True).astype(float)

    attribute("shapley_sampling", 6, value, {"n_samples": 50}, np.random.default_rng(1))
    assert len(seen) == len(set(seen))
    assert len(seen) < 50 * 7  # memoised: far fewer than orderings x (n + 1)


def test_kernel_shap_with_all_coalitions_is_exact_shapley():
    value, table = _game(5, seed=7)
    exact = _brute_force_shapley(5, table)
    kernel = attribute("kernel_shap", 5, value, {"n_samples": 10_000}, np.random.default_rng(0))
    np.testing.assert_allclose(kernel, exact, atol=1e-9)


def test_kernel_shap_sampling_approaches_shapley():
    value, table = _smooth_game(10, seed=11)
    exact = attribute("shapley", 10, value, {}, np.random.default_rng(0))
    few = attribute("kernel_shap", 10, value, {"n_samples": 60}, np.random.default_rng(0))
    many = attribute("kernel_shap", 10, value, {"n_samples": 900}, np.random.default_rng(0))
    err_few = np.abs(few - exact).mean()
    err_many = np.abs(many - exact).mean()
    assert err_many < err_few
    assert err_many < 0.25 * np.abs(exact).mean()
    # efficiency holds exactly for every sample size
    np.testing.assert_allclose(many.sum(axis=1), table[-1] - table[0], atol=1e-9)


def test_shapley_sampling_approaches_shapley_and_is_seeded():
    value, _ = _smooth_game(7, seed=5)
    exact = attribute("shapley", 7, value, {}, np.random.default_rng(0))
    a = attribute("shapley_sampling", 7, value, {"n_samples": 400}, np.random.default_rng(42))
    b = attribute("shapley_sampling", 7, value, {"n_samples": 400}, np.random.default_rng(42))
    c = attribute("shapley_sampling", 7, value, {"n_samples": 400}, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a - exact).mean() < 0.2 * np.abs(exact).mean()


def test_lime_recovers_a_linear_function():
    weights = np.array([0.5, -2.0, 1.25, 0.0, 3.0, -0.75])
    intercept = 0.3

    def value(masks: np.ndarray) -> np.ndarray:
        return (masks.astype(float) @ weights + intercept)[:, None]

    coef = attribute("lime", 6, value, {"n_samples": 200, "kernel_width": 1.0}, np.random.default_rng(0))
    np.testing.assert_allclose(coef[0], weights, atol=1e-9)


def test_lime_with_ridge_shrinks_coefficients():
    weights = np.array([1.0, -1.0, 2.0])

    def value(masks: np.ndarray) -> np.ndarray:
        return (masks.astype(float) @ weights)[:, None]

    plain = attribute("lime", 3, value, {"n_samples": 100}, np.random.default_rng(0))
    ridge = attribute("lime", 3, value, {"n_samples": 100, "alpha": 50.0}, np.random.default_rng(0))
    assert np.abs(ridge).sum() < np.abs(plain).sum()


def test_feature_ablation_is_all_minus_one_removed():
    value, table = _game(4, seed=2)
    attr = attribute("feature_ablation", 4, value, {}, np.random.default_rng(0))
    full = 2**4 - 1
    expected = np.stack([table[full] - table[full & ~(1 << i)] for i in range(4)], axis=1)
    np.testing.assert_allclose(attr, expected)


def test_all_masks_enumerates_every_coalition_once():
    masks = all_masks(4)
    assert masks.shape == (16, 4)
    assert len({tuple(m) for m in masks}) == 16


def test_too_many_features_for_exact_shapley_suggests_sampling():
    with pytest.raises(SpecError) as err:
        plan_shapley(13, {"max_features": 12}, np.random.default_rng(0))
    assert "shapley_sampling" in str(err.value)
    assert "8,192" in str(err.value)
