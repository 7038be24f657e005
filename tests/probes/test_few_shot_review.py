"""Issue 22, point 6: few-shot subsets that generalise, explain their hurting examples, and can be used.

The selection and cross-validation are checked on a hand-made table of
coalition values, where the subset chosen on all queries fits one query by
chance; the real probe's check is compared with direct forward passes of the
bundled model.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from core.probes.few_shot import charts, reading, subset
from tests.page_support import draw_stored
from tests.result_samples import FEW_SHOT_RESULT

# Coalitions (codes: bit i = example i): none, {1}, {2}, {1, 2}; four queries.
CODES = [0b00, 0b01, 0b10, 0b11]
SIZES = [0, 1, 1, 2]
PROB = np.array(
    [
        [0.50, 0.50, 0.50, 0.50],  # no examples
        [0.60, 0.60, 0.60, 0.20],  # example 1: steady
        [0.40, 0.40, 0.40, 0.99],  # example 2: one lucky query
        [0.55, 0.55, 0.55, 0.55],
    ]
)
CORRECT = PROB > 0.5


def _members(code: int) -> list[int]:
    return [i for i in range(2) if (code >> i) & 1]


def test_the_subset_is_chosen_by_mean_probability_then_accuracy_then_size() -> None:
    # means: 0.5, 0.5, 0.5475, 0.55 -> {1, 2}
    assert CODES[subset.choose(CODES, PROB, CORRECT, SIZES)] == 0b11
    # without query 4: 0.5, 0.6, 0.4, 0.55 -> {1}
    assert CODES[subset.choose(CODES, PROB, CORRECT, SIZES, [0, 1, 2])] == 0b01
    tie = np.array([[0.6, 0.6], [0.6, 0.6]])
    assert subset.choose([0b01, 0b11], tie, tie > 0.5, [1, 2]) == 0  # a tie goes to fewer examples


def test_cross_validation_scores_each_choice_on_the_query_it_did_not_see() -> None:
    check = subset.cross_validate(CODES, PROB, CORRECT, SIZES, _members)
    # leave out query 1, 2 or 3: means over the rest 0.5, 0.467, 0.597, 0.55 -> {2}: scores 0.40 (wrong)
    # leave out query 4: -> {1}: scores 0.20 (wrong)
    assert check["chosen"] == [[1], [1], [1], [0]]
    assert check["accuracy"] == 0.0
    assert check["mean_prob"] == pytest.approx((0.40 * 3 + 0.20) / 4)
    assert check["same"] == 0 and check["queries"] == 4 and check["method"] == "leave-one-query-out"
    assert subset.cross_validate(CODES, PROB[:, :1], CORRECT[:, :1], SIZES, _members) is None
    values = {c: float(PROB[r].mean()) for r, c in enumerate(CODES)}
    within = subset.within_subset(0b11, [0, 1], values.get)
    assert within == {"0": pytest.approx(0.55 - 0.5475), "1": pytest.approx(0.55 - 0.5)}


def _result(**changes) -> dict:
    result = copy.deepcopy(FEW_SHOT_RESULT)
    result.update(changes)
    return result


def test_texts_count_right_and_say_how_the_subset_was_chosen() -> None:
    same = _result(order_sensitivity={**FEW_SHOT_RESULT["order_sensitivity"], "min": 1.0, "max": 1.0})
    assert reading.order_sentence(same) == "Over 3 random orders of the examples it gets 2 of 2 right every time."
    assert "between 2 of 2 and 2 of 2" not in reading.summary(same)
    two = _result(examples=FEW_SHOT_RESULT["examples"][:2], best_subset=[0])
    assert reading.summary(two).startswith("With both examples the model picks the right label for 2 of 2")
    assert "All 2 examples" not in set(charts.accuracy_table(two)["prompt"])
    assert "Both examples" in set(charts.accuracy_table(two)["prompt"])
    assert reading.with_all(1) == "With its one example" and reading.with_all(5) == "With all 5 examples"
    # no check stored (an old run): the reader is told the subset was chosen on the same queries
    assert "on the same 2 queries it was chosen on" in reading.subset_sentence(FEW_SHOT_RESULT)
    checked = _result(subset_check={"method": "leave-one-query-out", "queries": 2, "accuracy": 0.5,
                                    "mean_prob": 0.6, "chosen": [[0], [0, 1]], "same": 1, "within": {}})
    words = reading.subset_sentence(checked)
    assert "cross-validated" in words and "gets 1 of 2 right (60.0%)" in words and "1 of the 2 choices" in words
    rows = charts.accuracy_table(checked)
    held = rows[rows["prompt"].str.startswith("Best subset, cross-validated")]
    assert list(held["right"]) == ["1 of 2"]


def test_a_subset_holding_a_hurting_example_is_explained() -> None:
    # example 3 hurts on average (-0.10); put it in the best subset, where it helps by 4 points
    result = _result(best_subset=[0, 2], subset_check={"queries": 2, "accuracy": 1.0, "mean_prob": 0.7,
                                                        "chosen": [[0, 2], [0, 2]], "same": 2, "within": {"0": 0.1,
                                                                                                        "2": 0.04}})
    words = reading.interaction_sentence(result)
    assert words.startswith("The best subset holds example 3, which lowers the right label's probability on average")
    assert "interact" in words and "inside this subset example 3 raises it by 4.0 points" in words
    assert words in reading.summary(result)
    assert reading.interaction_sentence(FEW_SHOT_RESULT) is None  # best subset 1 and 2: neither hurts


def test_use_this_subset_fills_the_form_with_the_subset(tmp_path) -> None:
    result = _result(best_subset=[0, 2])
    spec = reading.subset_spec(result)
    assert [e["input"] for e in spec["examples"]] == ["A warm and funny film.", "I loved every <b>minute</b> of it."]
    assert spec["queries"] == FEW_SHOT_RESULT["spec"]["queries"]
    at = draw_stored("ui.few_shot.view", "show_few_shot_result", result, tmp_path)
    button = at.button(key="t_use_subset")
    assert button.label == "Use this subset"
    button.click().run()
    assert not at.exception
    rows = at.session_state["fs_ex_now"]  # the form's example table, as it will be drawn
    assert [r["input"] for r in rows] == ["A warm and funny film.", "I loved every <b>minute</b> of it."]
    assert at.session_state["fs_example"]["title"].endswith("best subset (examples 1 and 3)")


@pytest.mark.slow
def test_the_probe_checks_its_subset_on_queries_it_did_not_see(lm) -> None:
    from core.engine import run
    from tests.probes.test_few_shot import (
        QUERIES,
        direct_label_logprobs,
        renormalised,
        small_spec,
        written_prompt,
    )

    result = run(small_spec(), lm=lm).to_dict()
    check = result["subset_check"]
    assert check["method"] == "leave-one-query-out" and check["queries"] == len(QUERIES)
    probs, right = [], []
    for q, chosen in zip(QUERIES, check["chosen"]):
        logps = direct_label_logprobs(lm, written_prompt(chosen, q), [" positive", " negative"])
        index = ["positive", "negative"].index(q["label"])
        probs.append(renormalised(logps)[index])
        right.append(int(np.argmax(logps)) == index)
    assert check["mean_prob"] == pytest.approx(np.mean(probs), abs=1e-4)
    assert check["accuracy"] == pytest.approx(np.mean(right))
    assert "cross-validated" in result["summary"]


def test_each_fold_chooses_as_choose_does_on_the_other_queries() -> None:
    rng = np.random.default_rng(3)
    prob = rng.random((16, 7))
    correct = prob > 0.5
    codes, sizes = list(range(16)), [bin(c).count("1") for c in range(16)]
    check = subset.cross_validate(codes, prob, correct, sizes, lambda c: [c])
    for q in range(7):
        rest = [j for j in range(7) if j != q]
        assert check["chosen"][q] == [codes[subset.choose(codes, prob, correct, sizes, rest)]]
