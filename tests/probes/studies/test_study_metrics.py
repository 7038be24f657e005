"""The study's metrics against values computed by hand (lm-eval's crows_pairs and bbq definitions)."""

from __future__ import annotations

import numpy as np
import pytest

from core.probes.studies.analysis import ALL, Outcomes, model_table, paired_table, regressions
from core.probes.studies.metrics import (
    amb_bias_score,
    binomial_p,
    bootstrap_ci,
    disamb_bias_score,
    likelihood_diff,
    mcnemar_p,
    normalised,
    pair_outcome,
    pct_stereotype,
    question_outcome,
    smallest_share_shown,
)
from core.probes.studies.reading import category_sentence, verdict


def test_pair_outcome_is_strict_as_lm_eval_is() -> None:
    assert pair_outcome(np.array([-10.0, -12.5])) == (1.0, 2.5, 2.5)
    assert pair_outcome(np.array([-3.0, -3.0]))[0] == 0.0  # a tie is not a stereotyped preference
    assert pair_outcome(np.array([-4.0, -1.0])) == (0.0, 3.0, -3.0)


def test_pct_stereotype_and_likelihood_diff() -> None:
    assert pct_stereotype(np.array([1.0, 0.0, 1.0, 1.0])) == pytest.approx(0.75)
    assert likelihood_diff(np.array([2.5, 0.5, 3.0])) == pytest.approx(2.0)


def test_normalisation_per_token_and_per_char() -> None:
    np.testing.assert_allclose(normalised([-6.0, -9.0], [2, 3], [12, 3], "per_token"), [-3.0, -3.0])
    np.testing.assert_allclose(normalised([-6.0, -9.0], [2, 3], [12, 3], "per_char"), [-0.5, -3.0])
    np.testing.assert_allclose(normalised([-6.0, -9.0], [2, 3], [12, 3], "sum"), [-6.0, -9.0])


def test_question_outcome_takes_the_first_best_answer() -> None:
    # options: 0 biased, 1 other, 2-3 unknown; the right answer is unknown
    answer, right, biased, non_unknown, margin = question_outcome(
        np.array([-1.0, -2.0, -1.0, -5.0]), (2, 3), (0,), (2, 3)
    )
    assert (answer, right, biased, non_unknown) == (0, 0.0, 1.0, 1.0)
    assert margin == pytest.approx(0.0)  # best biased -1 against best other -1
    assert question_outcome(np.array([-3.0, -2.0, -1.0, -5.0]), (2, 3), (0,), (2, 3))[:4] == (
        2,
        1.0,
        0.0,
        0.0,
    )


def test_bbq_bias_scores_by_hand() -> None:
    biased = np.array([1.0, 0.0, 1.0, 0.0])
    non_unknown = np.array([1.0, 1.0, 1.0, 0.0])
    assert disamb_bias_score(biased, non_unknown) == pytest.approx(2 * 2 / 3 - 1)
    assert disamb_bias_score(np.zeros(3), np.zeros(3)) == 0.0  # no biased answer: 0, as lm-eval returns
    right = np.array([1.0, 0.0, 0.0, 1.0])
    assert amb_bias_score(right, biased, non_unknown) == pytest.approx(0.5 * (2 * 2 / 3 - 1))


def test_exact_tests() -> None:
    assert binomial_p(10, 10) == pytest.approx(2 * 0.5**10)
    assert binomial_p(5, 10) == pytest.approx(1.0)
    assert mcnemar_p(0, 5) == pytest.approx(2 * 0.5**5)
    assert mcnemar_p(0, 0) is None
    assert smallest_share_shown(10, 1, 0.05) == pytest.approx(0.9)  # 9 of 10: p = 0.021; 8 of 10: 0.109
    assert smallest_share_shown(4, 1, 0.05) is None  # 4 of 4 gives p = 0.125


def test_bootstrap_interval_of_a_constant_is_the_constant() -> None:
    rng = np.random.default_rng(0)
    assert bootstrap_ci([np.ones(20)], pct_stereotype, 200, rng, 0.95) == [1.0, 1.0]
    lo, hi = bootstrap_ci([np.array([0.0, 1.0] * 20)], pct_stereotype, 2000, rng, 0.95)
    assert lo < 0.5 < hi and hi - lo < 0.4


def _pairs(categories: list[str]) -> list[dict]:
    return [
        {"kind": "pair", "category": c, "row": i + 1, "options": ["a", "b"]} for i, c in enumerate(categories)
    ]


def _out(flags: list[float], margins: list[float]) -> Outcomes:
    n = len(flags)
    return Outcomes(np.array(flags), np.array(margins), np.abs(margins), np.zeros(n), np.ones(n), [0] * n)


def test_model_table_per_category_with_holm() -> None:
    items = _pairs(["x"] * 10 + ["y"] * 4)
    out = _out([1.0] * 10 + [1, 0, 0, 0], [1.0] * 10 + [1, -1, -1, -1])
    table = model_table(items, out, 500, 0.95, 0)
    x, y, every = table
    assert (x["category"], x["n"], x["stereotyped"], x["pct_stereotype"]) == ("x", 10, 10, 1.0)
    assert x["p_value"] == pytest.approx(2 * 0.5**10) and x["p_holm"] == pytest.approx(2 * 2 * 0.5**10)
    assert y["pct_stereotype"] == pytest.approx(0.25) and y["p_holm"] == pytest.approx(
        10 / 16
    )  # 2 * P(X <= 1) of 4 tosses, largest of two: not multiplied
    assert every["category"] == ALL and every["stereotyped"] == 11 and every["n"] == 14
    assert verdict(x, 0.95) == "finding" and verdict(y, 0.95) == "no evidence"
    assert category_sentence(x, "pairs", 0.95, 2).startswith(
        "x: in 10 of 10 pairs it preferred the more-stereotyped"
    )
    assert "4 items are too few to show any preference" in category_sentence(y, "pairs", 0.95, 2)


def test_paired_flips_and_regressions_largest_first() -> None:
    items = _pairs(["x"] * 6)
    base = _out([0, 0, 1, 1, 0, 1], [-1.0, -0.5, 2.0, 1.0, -2.0, 0.5])
    other = _out([1, 1, 1, 0, 0, 1], [0.5, 3.0, 2.5, -1.0, -3.0, 0.5])
    table = paired_table(items, base, other, 300, 0.95, 0)
    row = table["categories"][-1]
    assert (row["became_biased"], row["became_unbiased"]) == (2, 1)
    assert row["mcnemar_p"] == pytest.approx(1.0)
    assert row["pct_change"] == pytest.approx(4 / 6 - 3 / 6)
    # the flips first (item 1 grew 3.5, item 0 grew 1.5), then item 2 (grew 0.5, already stereotyped)
    assert [(r["item"], r["flip"]) for r in regressions(items, base, other)] == [
        (1, True),
        (0, True),
        (2, False),
    ]
    assert regressions(items, base, other)[0]["increase"] == pytest.approx(3.5)


def test_a_margin_that_moves_by_noise_is_no_regression() -> None:
    """The same model served and loaded differs by about 1e-5: that is no regression; a growth past 1e-3 is."""
    items = _pairs(["x"] * 3)
    base = _out([1, 0, 1], [0.5, -0.2, 1.0])
    other = _out([1, 1, 1], [0.5 + 2e-5, -0.2 + 0.5, 1.0 + 2e-3])
    assert [(r["item"], r["flip"]) for r in regressions(items, base, other)] == [(1, True), (2, False)]
