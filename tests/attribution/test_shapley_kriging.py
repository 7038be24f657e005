"""Kriged Shapley values from complement pairs, and the plans that choose the pairs (synthetic games + the model)."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

import core.attribution.shapley_kriging as kriging
from core.attribution.methods import METHODS
from core.attribution.methods.kernel_shap import combine_kernel_shap, plan_kernel_shap
from core.attribution.methods.shapley import combine_shapley
from core.attribution.methods.shapley_sampling import plan_shapley_sampling
from core.attribution.pair_design import joint_covariance, shapley_covariance
from core.attribution.perturbation import all_masks, mask_codes
from core.attribution.planning import attribute, method_stderr
from core.attribution.shapley_kriging import kriged_shapley
from tests.game_support import pair_game


def _fourier_game(n: int, seed: int, decay: float = 0.3):
    """A game with terms of every degree (random parity coefficients, energy falling by ``decay`` per degree)."""
    rng = np.random.default_rng(seed)
    codes = np.arange(2**n)
    degree = np.array([bin(c).count("1") for c in codes])
    scale = decay ** np.maximum(degree - 1, 0) / np.array([comb(n, int(d)) for d in degree])
    coef = rng.normal(size=2**n) * np.sqrt(scale)
    parity = 1.0 - 2.0 * (np.vectorize(lambda c: bin(c).count("1") % 2)(codes[:, None] & codes[None, :]))
    table = parity @ coef  # row m is the coalition of mask code m

    def value(masks: np.ndarray) -> np.ndarray:
        return table[mask_codes(masks)][:, None]

    exact = combine_shapley(METHODS["shapley"].plan(n, {}, rng), table[:, None], {})
    return value, exact, table


def test_every_pair_gives_the_exact_shapley_values() -> None:
    value, exact, _ = _fourier_game(8, seed=1)
    masks = all_masks(8)
    attr, stderr = kriged_shapley(masks, value(masks))
    np.testing.assert_allclose(attr, exact, atol=1e-7)
    assert not stderr.any()


def test_an_additive_game_and_a_game_of_pairs_are_exact_from_few_pairs() -> None:
    n = 9
    value, exact = pair_game(n, seed=3)
    for method, samples in (("kernel_shap", 2 * n + 6), ("shapley_sampling", 2)):
        attr = attribute(method, n, value, {"n_samples": samples, "paired": True}, np.random.default_rng(0))
        np.testing.assert_allclose(attr, exact, atol=1e-9)


@pytest.mark.parametrize("method", ["kernel_shap", "shapley_sampling"])
def test_the_attributions_add_up_to_the_score_difference(method) -> None:
    value, exact, table = _fourier_game(10, seed=2)
    samples = 60 if method == "kernel_shap" else 6
    attr = attribute(method, 10, value, {"n_samples": samples, "paired": True}, np.random.default_rng(4))
    assert attr.sum() == pytest.approx(table[-1] - table[0], abs=1e-9)
    assert np.abs(attr - exact).max() > 1e-6  # an estimate, not a lookup


def test_the_standard_error_matches_the_real_spread_over_seeds() -> None:
    value, exact, _ = _fourier_game(10, seed=5, decay=0.4)  # not the prior's own decay
    params = {"n_samples": 80, "paired": True}
    planner, combiner = METHODS["kernel_shap"].plan, METHODS["kernel_shap"].combine
    estimates, claimed = [], []
    for seed in range(30):
        plan = planner(10, params, np.random.default_rng(seed))
        values = value(plan.masks)
        estimates.append(combiner(plan, values, params)[0])
        claimed.append(method_stderr("kernel_shap", plan, values, params, np.random.default_rng(seed))[0])
    real = np.sqrt(np.mean((np.array(estimates) - exact[0]) ** 2, axis=0)).mean()
    assert 0.6 < np.mean(claimed) / real < 1.6, np.mean(claimed) / real


def test_more_pairs_shrink_the_error_and_its_estimate() -> None:
    value, exact, _ = _fourier_game(10, seed=6)

    def run(samples: int) -> tuple[float, float]:
        errs, ses = [], []
        for seed in range(8):
            params = {"n_samples": samples, "paired": True}
            plan = plan_kernel_shap(10, params, np.random.default_rng(seed))
            values = value(plan.masks)
            errs.append(np.abs(combine_kernel_shap(plan, values, params) - exact).mean())
            ses.append(method_stderr("kernel_shap", plan, values, params, np.random.default_rng(0)).mean())
        return float(np.mean(errs)), float(np.mean(ses))

    (few_err, few_se), (many_err, many_se) = run(60), run(240)
    assert many_err < 0.7 * few_err and many_se < 0.7 * few_se


def test_the_chosen_pairs_tell_more_than_the_pool_drawn_first() -> None:
    n, rng = 10, np.random.default_rng(0)
    plan = plan_kernel_shap(n, {"n_samples": 62, "paired": True}, rng)
    chosen = plan.masks[22:]
    drawn = rng.random((len(chosen) // 2, n)) < 0.5

    def left_over(pairs: np.ndarray) -> float:
        rows = np.vstack([plan.masks[:1], plan.masks[2:12], pairs])
        k = joint_covariance(rows, rows) + 1e-9 * np.eye(len(rows))
        c = shapley_covariance(rows)
        return float(-np.trace(c @ np.linalg.solve(k, c.T)))

    assert left_over(chosen[::2]) < left_over(drawn)


def test_paired_shapley_sampling_plans_orderings_with_their_reverses_and_the_single_features() -> None:
    n = 8
    plan = plan_shapley_sampling(n, {"n_samples": 6, "paired": True}, np.random.default_rng(1))
    perms = plan.extra["perms"]
    np.testing.assert_array_equal(perms[1], perms[0][::-1])
    tail = plan.masks[6 * (n + 1) :]
    assert len(tail) == 2 * n and sorted(tail.sum(axis=1).tolist()) == [1] * n + [n - 1] * n
    again = plan_shapley_sampling(n, {"n_samples": 6, "paired": True}, np.random.default_rng(1))
    np.testing.assert_array_equal(again.masks, plan.masks)


def test_too_few_or_too_many_pairs_fall_back_to_the_classical_estimates(monkeypatch) -> None:
    value, _, _ = _fourier_game(8, seed=7)
    few = plan_kernel_shap(8, {"n_samples": 6, "paired": True}, np.random.default_rng(0))
    assert kriged_shapley(few.masks, value(few.masks)) is None  # 3 pairs cannot fix 8 first-degree terms
    assert np.isfinite(combine_kernel_shap(few, value(few.masks), {})).all()
    monkeypatch.setattr(kriging, "MAX_PAIRS", 10)
    plan = plan_kernel_shap(8, {"n_samples": 60, "paired": True}, np.random.default_rng(0))
    assert kriged_shapley(plan.masks, value(plan.masks)) is None
    weighted = combine_kernel_shap(plan, value(plan.masks), {})
    monkeypatch.setattr(kriging, "MAX_PAIRS", 2000)
    again = plan_kernel_shap(8, {"n_samples": 60, "paired": True}, np.random.default_rng(0))  # the same coalitions
    np.testing.assert_array_equal(again.masks, plan.masks)
    assert np.abs(combine_kernel_shap(again, value(again.masks), {}) - weighted).max() > 1e-6


@pytest.mark.slow
def test_on_the_model_paired_sampling_beats_captums_way_at_equal_coalitions(lm) -> None:
    """Seven word features of a real prompt: paired (kriged) against unpaired at the same distinct coalitions."""
    from core.attribution.engine import prepare
    from core.attribution.prompt_values import LayoutCoalitions, PromptValues
    from core.attribution.spec import parse_spec

    words = ["My", "grandmother", "grew", "up", "on", "a", "farm"]
    spec = parse_spec({"model": "default", "prompt": {"template": " ".join(["{}"] * 7) + " in Kansas, and she",
                                                      "values": words},
                       "target": {"text": " rode horses."}, "method": {"name": "shapley"}})
    ctx = prepare(spec, lm)
    values = PromptValues(lm, ctx.layout.chat, ctx.target, spec.score)
    table = LayoutCoalitions(values, ctx.layout, ctx.layout.fixed_baselines(), lambda: None).values(all_masks(7))[:, 0]
    exact = combine_shapley(METHODS["shapley"].plan(7, {}, np.random.default_rng(0)), table[:, None], {})[0]

    def lookup(masks: np.ndarray) -> np.ndarray:
        return table[mask_codes(masks)][:, None]

    def error(paired: bool) -> float:
        return float(np.mean([np.linalg.norm(attribute("kernel_shap", 7, lookup, {"n_samples": 30, "paired": paired},
                                                       np.random.default_rng(s))[0] - exact) for s in range(8)]))

    assert error(True) < 0.5 * error(False)


def test_the_attribution_and_its_standard_error_share_one_solve(monkeypatch) -> None:
    import core.attribution.perturbation as perturbation

    calls = []
    real = perturbation.kriged_shapley
    monkeypatch.setattr(perturbation, "kriged_shapley", lambda masks, values: calls.append(1) or real(masks, values))
    value, _, _ = _fourier_game(8, seed=8)
    params = {"n_samples": 40, "paired": True}
    plan = plan_kernel_shap(8, params, np.random.default_rng(0))
    values = value(plan.masks)
    attr = combine_kernel_shap(plan, values, params)
    stderr = method_stderr("kernel_shap", plan, values, params, np.random.default_rng(0))
    assert len(calls) == 1 and attr.shape == stderr.shape
    combine_kernel_shap(plan, 2 * values, params)  # other values: solved again
    assert len(calls) == 2
