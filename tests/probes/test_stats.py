"""Bootstrap intervals, permutation tests and effect sizes on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from core.probes.bias.stats import (
    bootstrap_mean_ci,
    bootstrap_two_sample,
    cohens_d,
    holm,
    log_ratio_of_means,
    mean_diff,
    permutation_test,
)


def test_identical_groups_give_large_p_and_ci_covering_zero() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 30)
    b = a[rng.permutation(30)]  # the same values, shuffled
    _, p = permutation_test(a, b, mean_diff, 2000, np.random.default_rng(0))
    assert p[0] > 0.9
    lo, hi = bootstrap_two_sample(a, b, mean_diff, 2000, np.random.default_rng(0))[:, 0]
    assert lo < 0 < hi


def test_well_separated_groups_give_tiny_p() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(5, 1, 20), rng.normal(0, 1, 20)
    observed, p = permutation_test(a, b, mean_diff, 5000, np.random.default_rng(0))
    assert observed[0] == pytest.approx(a.mean() - b.mean())
    assert p[0] == pytest.approx(1 / 5001)  # no shuffle is as extreme: the smallest p it can give
    lo, hi = bootstrap_two_sample(a, b, mean_diff, 2000, np.random.default_rng(0))[:, 0]
    assert lo > 3 and hi < 7


def test_permutation_p_is_uniform_under_the_null() -> None:
    """Under the null hypothesis about 5% of tests reject at 0.05."""
    rng = np.random.default_rng(3)
    pooled = rng.normal(0, 1, (20, 400))  # 20 units, 400 independent experiments
    _, p = permutation_test(pooled[:10], pooled[10:], mean_diff, 1000, np.random.default_rng(4))
    assert 0.02 <= (p < 0.05).mean() <= 0.09
    assert 0.4 <= (p < 0.5).mean() <= 0.6


def test_exact_permutation_test_enumerates_every_split() -> None:
    # 3 vs 3 fully separated: 20 splits, the observed one and its mirror are the most extreme.
    _, p = permutation_test([10.0, 11.0, 12.0], [0.0, 1.0, 2.0], mean_diff, 5000, np.random.default_rng(0))
    assert p[0] == pytest.approx(2 / 20)


def test_bootstrap_ci_of_a_normal_mean_covers_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(5)
    data = rng.normal(3.0, 2.0, (50, 300))  # 300 experiments of 50 draws each
    lo, hi = bootstrap_mean_ci(data, 2000, np.random.default_rng(6))
    coverage = ((lo <= 3.0) & (3.0 <= hi)).mean()
    assert 0.89 <= coverage <= 0.99


def test_ratio_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.exponential(0.6, (40, 200)), rng.exponential(0.2, (40, 200))  # true ratio 3
    log_lo, log_hi = bootstrap_two_sample(a, b, log_ratio_of_means, 1000, np.random.default_rng(8))
    coverage = ((np.exp(log_lo) <= 3.0) & (3.0 <= np.exp(log_hi))).mean()
    assert 0.85 <= coverage <= 0.99


def test_seeded_results_repeat_and_seeds_differ() -> None:
    x = np.random.default_rng(9).normal(0, 1, 25)
    y = x + 0.3
    first = bootstrap_mean_ci(x, 500, np.random.default_rng(42))
    again = bootstrap_mean_ci(x, 500, np.random.default_rng(42))
    other = bootstrap_mean_ci(x, 500, np.random.default_rng(43))
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    p1 = permutation_test(x, y, mean_diff, 500, np.random.default_rng(42))[1]
    p2 = permutation_test(x, y, mean_diff, 500, np.random.default_rng(42))[1]
    assert np.array_equal(p1, p2)


def test_cohens_d_matches_the_textbook_formula() -> None:
    a, b = np.array([2.0, 4.0, 6.0, 8.0]), np.array([1.0, 2.0, 3.0])
    pooled = np.sqrt((3 * np.var(a, ddof=1) + 2 * np.var(b, ddof=1)) / 5)
    assert cohens_d(a, b)[0] == pytest.approx((5.0 - 2.0) / pooled)
    assert np.isnan(cohens_d([1.0, 1.0], [1.0, 1.0])[0])


def test_holm_adjustment() -> None:
    adjusted = holm([0.01, 0.04, 0.03, 0.5])
    assert adjusted.tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])
