"""Faithfulness curves: analytic values on a known additive game, the budget, and the bundled model."""

from __future__ import annotations

import numpy as np
import pytest

from core.attribution.faithfulness import (
    EXTRA_PER_FEATURE,
    MAX_STEPS,
    MaskTable,
    aopc_deletion,
    curve_points,
    deletion_masks,
    faithfulness,
    insertion_masks,
    ranking,
)
from core.attribution.perturbation import all_masks
from core.attribution.result import RunResult
from core.engine import run
from core.present import trust

WEIGHTS = np.array([3.0, -1.0, 2.0, 0.5, -0.25, 1.25])
TEMPLATE = "{} lives in {}, {} and is a {}. {} personal interests include"
VALUES = ["Dave", "Palm Coast", "FL", "lawyer", "His"]
TARGET = "playing golf, hiking, and cooking."


def _additive(masks: np.ndarray) -> np.ndarray:
    """v(S) = sum of the present features' weights; two outputs (the sequence and one token)."""
    v = masks.astype(float) @ WEIGHTS
    return np.stack([v, v], axis=1)


def _spec(**changes):
    spec = {
        "model": "default",
        "prompt": {"template": TEMPLATE, "values": VALUES},
        "target": {"text": TARGET},
        "method": {"name": "feature_ablation"},
    }
    spec.update(changes)
    return spec


def test_masks_follow_the_order() -> None:
    order = ranking(WEIGHTS)
    assert order.tolist() == [0, 2, 5, 3, 4, 1]
    dele, ins = deletion_masks(order), insertion_masks(order)
    assert dele[0].all() and not dele[-1].any() and not ins[0].any() and ins[-1].all()
    assert dele[2].tolist() == [False, True, False, True, True, True]  # the two largest removed
    assert (ins[2] == ~dele[2]).all()


def test_exact_attribution_of_an_additive_game_has_the_analytic_area_and_beats_random() -> None:
    every = all_masks(len(WEIGHTS))
    table = MaskTable(_additive, (every, _additive(every)))  # exact Shapley scored every coalition
    result = faithfulness(table, WEIGHTS, WEIGHTS[None, :], seed=0)
    seq = result["sequence"]
    ordered = np.sort(WEIGHTS)[::-1]
    analytic_del = np.mean([ordered[:k].sum() for k in range(len(WEIGHTS) + 1)])
    analytic_ins = analytic_del  # inserting the top k recovers what deleting them removed
    assert seq["aopc_deletion"] == pytest.approx(analytic_del, abs=1e-12)
    assert seq["aopc_insertion"] == pytest.approx(analytic_ins, abs=1e-12)
    random = seq["random"]
    assert random["orders"] == 8 and random["aopc_deletion_std"] > 0
    assert seq["ratio_deletion"] > 1.5 and seq["ratio_insertion"] > 1.5
    assert result["extra_prompts"] == 0 and table.new_prompts == 0  # all reused
    assert result["tokens"][0]["aopc_deletion"] == pytest.approx(analytic_del)
    # a reversed attribution is worse than random
    worse = faithfulness(table, -WEIGHTS, None, seed=0)["sequence"]
    assert worse["aopc_deletion"] < worse["random"]["aopc_deletion"]


def test_new_prompts_stay_within_the_budget_and_random_orders_repeat_with_the_seed() -> None:
    asked: list[int] = []

    def counted(masks: np.ndarray) -> np.ndarray:
        asked.append(len(masks))
        return _additive(masks)

    n = len(WEIGHTS)
    known = np.vstack([np.ones(n, bool), np.zeros(n, bool)])
    table = MaskTable(counted, (known, _additive(known)))
    result = faithfulness(table, WEIGHTS, None, seed=3, budget=4 * n)
    assert sum(asked) == result["extra_prompts"] <= 4 * n
    assert result["sequence"]["random"]["orders"] >= 2
    again = faithfulness(MaskTable(_additive, (known, _additive(known))), WEIGHTS, None, seed=3, budget=4 * n)
    assert again["sequence"] == result["sequence"]
    small = faithfulness(MaskTable(_additive, (known, _additive(known))), WEIGHTS, None, seed=3)
    assert small["extra_prompts"] <= EXTRA_PER_FEATURE * n and small["budget"] == EXTRA_PER_FEATURE * n


def test_area_of_a_flat_curve_is_zero_and_long_prompts_get_symmetric_points() -> None:
    assert aopc_deletion(np.array([1.0, 1.0, 1.0])) == 0.0
    assert curve_points(5).tolist() == [0, 1, 2, 3, 4, 5]
    for n in range(9, 60):
        points = curve_points(n)
        assert points[0] == 0 and points[-1] == n and len(points) <= MAX_STEPS + 2
        assert sorted(n - points) == points.tolist()  # a random deletion chain read backwards is an insertion one


@pytest.fixture(scope="module")
def ablation(lm) -> RunResult:
    return run(_spec(), lm=lm)


def test_comprehensiveness_at_n_is_score_all_minus_none_on_the_bundled_model(ablation) -> None:
    info = ablation.faithfulness
    n = len(ablation.features)
    seq = info["sequence"]
    assert seq["comprehensiveness"][n] == ablation.score_all - ablation.score_none
    assert seq["deletion"][0] == ablation.score_all and seq["insertion"][0] == ablation.score_none
    assert info["extra_prompts"] <= 2 * n
    assert ablation.meta["forward_passes"] == n + 2  # the method's own passes, as before
    # the most positive feature's removal is the first deletion step (reused from the ablation)
    top = int(np.argmax(ablation.seq_attr))
    assert seq["deletion"][1] == pytest.approx(ablation.score_all - ablation.seq_attr[top], abs=1e-9)
    assert seq["aopc_deletion"] > 0
    sentence = trust.faithfulness_sentence(seq)
    assert sentence and "AOPC" in sentence
    chart = trust.faithfulness_chart(seq).to_dict()
    assert chart["mark"]["type"] == "line"


def test_faithfulness_can_be_turned_off_and_old_results_still_load(lm, ablation) -> None:
    off = run(_spec(faithfulness=False), lm=lm)
    assert off.faithfulness is None and off.spec["faithfulness"] is False
    assert off.seq_attr == ablation.seq_attr
    doc = ablation.to_dict()
    assert "faithfulness" not in doc["spec"]  # the default is not written into the saved spec
    old = {k: v for k, v in doc.items() if k not in ("faithfulness", "seq_stderr", "token_stderr", "format")}
    back = RunResult.from_dict(old)
    assert back.faithfulness is None and back.seq_attr == ablation.seq_attr
    assert RunResult.from_json(ablation.to_json()).faithfulness == ablation.faithfulness


def test_gradient_results_are_checked_too(lm) -> None:
    prompt = {"text": "Dave is a lawyer who lives in Palm Coast, Florida, near the sea.", "granularity": "word"}
    result = run(_spec(prompt=prompt, target={"text": " He plays golf."}, method={"name": "input_x_gradient"}), lm=lm)
    info = result.faithfulness
    n = len(result.features)
    seq = info["sequence"]
    assert len(seq["deletion"]) == len(info["k"]) and info["k"][-1] == n and info["extra_prompts"] <= 2 * n
    assert seq["random"]["orders"] >= 1  # the curves' points leave budget for random orders
    # every prompt token is a feature, so removing all of them is the run's own baseline
    assert seq["comprehensiveness"][-1] == pytest.approx(result.score_all - result.score_none, abs=1e-9)
