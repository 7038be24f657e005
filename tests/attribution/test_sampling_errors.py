"""Standard errors of the sampling methods, paired sampling, and the noise sentence (synthetic games)."""

from __future__ import annotations

import numpy as np
import pytest

from core.attribution.methods import METHODS
from core.attribution.methods.kernel_shap import plan_kernel_shap
from core.attribution.methods.shapley import combine_shapley
from core.attribution.perturbation import all_masks
from core.attribution.planning import attribute, method_stderr
from core.attribution.uncertainty import trials_stderr, within_noise
from core.present import charts, trust
from tests.game_support import pair_game


def _game(n: int, seed: int = 0):
    """A smooth game with pairwise and some higher-order interactions, and its exact Shapley values."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=n)
    pair = rng.normal(scale=0.6, size=(n, n))
    triple = rng.normal(scale=0.5)

    def value(masks: np.ndarray) -> np.ndarray:
        x = masks.astype(float)
        v = x @ w + np.einsum("ki,ij,kj->k", x, np.triu(pair, 1), x) + triple * x[:, 0] * x[:, 1] * x[:, 2]
        return np.stack([v, 2 * v], axis=1)

    every = all_masks(n)
    exact = combine_shapley(METHODS["shapley"].plan(n, {}, np.random.default_rng(0)), value(every), {})
    return value, exact


def _stderr(method: str, n: int, params: dict, seed: int):
    value, _ = _game(n)
    planner, combiner = METHODS[method].plan, METHODS[method].combine
    plan = planner(n, params, np.random.default_rng(seed))
    values = value(plan.masks)
    attr = combiner(plan, values, params)
    return attr, method_stderr(method, plan, values, params, np.random.default_rng(seed + 100))


@pytest.mark.parametrize(
    ("method", "key", "few", "many"),
    [("shapley_sampling", "n_samples", 40, 640), ("kernel_shap", "n_samples", 50, 800), ("lime", "n_samples", 50, 800)],
)
def test_standard_errors_shrink_as_one_over_the_root_of_the_samples(method, key, few, many) -> None:
    # the classical (unpaired) estimators; the paired ones' kriged errors: tests/attribution/test_shapley_kriging.py
    classic = {"paired": False} if method != "lime" else {}
    small = np.mean([_stderr(method, 10, {key: few, **classic}, s)[1].mean() for s in range(3)])
    big = np.mean([_stderr(method, 10, {key: many, **classic}, s)[1].mean() for s in range(3)])
    ratio = big / small
    assert 0.25 * 0.6 < ratio < 0.25 * 1.6, ratio  # 16x the samples: a quarter of the error


def test_standard_errors_repeat_with_the_seed_and_exact_methods_have_none() -> None:
    a = _stderr("kernel_shap", 6, {"n_samples": 40}, 5)
    b = _stderr("kernel_shap", 6, {"n_samples": 40}, 5)
    np.testing.assert_array_equal(a[1], b[1])
    assert _stderr("feature_ablation", 6, {}, 0)[1] is None
    assert _stderr("kernel_shap", 4, {"n_samples": 100}, 0)[1] is None  # every coalition: exact
    assert trials_stderr([np.ones(3)]) is None
    np.testing.assert_allclose(trials_stderr([np.zeros(2), np.ones(2)]), [0.5, 0.5])


def test_the_sampling_error_matches_the_real_spread_over_seeds() -> None:
    value, exact = _game(8)
    classic = {"n_samples": 30, "paired": False}  # the classical estimator (paired: test_shapley_kriging.py)
    estimates = [attribute("shapley_sampling", 8, value, classic, np.random.default_rng(s)) for s in range(60)]
    real = np.std(estimates, axis=0, ddof=1).mean()
    claimed = np.mean([_stderr("shapley_sampling", 8, classic, s)[1].mean() for s in range(10)])
    assert 0.7 < claimed / real < 1.4


def test_antithetic_orderings_are_exact_for_a_game_of_pairs() -> None:
    n = 7
    value, exact = pair_game(n, seed=2)
    paired = attribute("shapley_sampling", n, value, {"n_samples": 2, "paired": True}, np.random.default_rng(0))
    alone = attribute("shapley_sampling", n, value, {"n_samples": 2, "paired": False}, np.random.default_rng(0))
    np.testing.assert_allclose(paired, exact, atol=1e-12)
    assert np.abs(alone - exact).max() > 1e-3


@pytest.mark.parametrize("method", ["shapley_sampling", "kernel_shap"])
def test_paired_sampling_is_closer_to_exact_shapley_at_equal_samples(method) -> None:
    value, exact = _game(10, seed=4)
    samples = 12 if method == "shapley_sampling" else 120

    def error(paired: bool) -> float:
        return float(np.mean([
            np.abs(attribute(method, 10, value, {"n_samples": samples, "paired": paired},
                             np.random.default_rng(s)) - exact).mean()
            for s in range(10)
        ]))

    assert error(True) < 0.6 * error(False)


def test_paired_kernel_shap_plans_the_asked_number_of_distinct_coalitions() -> None:
    plan = plan_kernel_shap(10, {"n_samples": 62, "paired": True}, np.random.default_rng(0))
    codes = {m.tobytes() for m in plan.masks}
    assert len(plan.masks) == len(codes) == 64
    assert sorted(plan.masks[2:22].sum(axis=1).tolist()) == [1] * 10 + [9] * 10  # sizes 1 and 9 taken whole
    weights = plan.extra["weights"]
    assert np.allclose(weights[:20], 9 / (10 * 1 * 9)) and (weights > 0).all()
    assert plan.extra["sampled"].sum() == 42


def test_error_bars_and_the_noise_sentence() -> None:
    result = {"features": ["a", "b", "c"], "seq_attr": [1.0, 0.95, -0.5], "seq_stderr": [0.1, 0.1, 0.1]}
    assert within_noise(result["seq_attr"], result["seq_stderr"])
    assert not within_noise([1.0, 0.2, 0.0], [0.1, 0.1, 0.1])
    sentence = trust.noise_sentence(result, result["seq_attr"], trust.span_stderr(result, None))
    assert sentence and "‘a’" in sentence and "‘b’" in sentence
    chart = charts.sequence_bar_chart(result, stderr=result["seq_stderr"]).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in chart["layer"]]
    assert marks.count("rule") == 2  # the error bars and the zero line
    plain = charts.sequence_bar_chart(result).to_dict()
    assert len(plain["layer"]) == 2
