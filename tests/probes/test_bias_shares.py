"""Issue 22, point 4: slot shares that agree with the gaps (intervals, the gap's scale, "not estimated")."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from core.probes.bias import charts as bias_charts
from core.probes.bias import shares
from core.probes.bias.run import run_bias
from tests.result_samples import BIAS_RESULT


def test_share_intervals_resample_the_attributed_prompts() -> None:
    rng = np.random.default_rng(0)
    first = [np.array([[2.0, 0.4]])] * 3  # one candidate, two slots; every first-group prompt alike
    second = [np.array([[0.0, 0.4]])] * 3
    out = shares.share_intervals(first, second, 200, rng, 0.95)
    # 0.5 x (2 - 0) = 1 for the first slot, 0 for the second; no spread, so the interval is the point
    assert out["gap_low"][0].tolist() == pytest.approx([1.0, 0.0]) and out["gap_high"][0].tolist() == pytest.approx([1.0, 0.0])
    assert out["total_low"][0, 0] == pytest.approx(1.0) and out["total_high"][0, 0] == pytest.approx(1.0)
    assert shares.share_intervals(first[:2], second, 200, rng, 0.95) == {}  # 2 prompts: no interval


def _entry(gap: float, gap_ci: list[float], total: list[float] | None) -> dict:
    attribution = {"gap": [total[0] if total else 0.0]}
    if total is not None:
        attribution.update(gap_low=[total[0]], gap_high=[total[1]], total_low=[total[0]], total_high=[total[1]])
    return {"text": " receptionist", "rank": 1, "gap": gap, "gap_ci": gap_ci, "attribution": attribution}


def test_shares_that_contradict_the_gap_are_not_estimated() -> None:
    # the age study: gap +0.14 (interval 0.05 to 0.23), share -0.29 from 4 of 20 prompts
    assert not shares.estimated(_entry(0.14, [0.05, 0.23], [-0.5, -0.1]))
    assert shares.estimated(_entry(0.14, [0.05, 0.23], [-0.1, 0.3]))
    assert not shares.estimated(_entry(0.14, [0.05, 0.23], None))  # a run saved without intervals
    result = copy.deepcopy(BIAS_RESULT)
    words = shares.not_estimated_sentence(result)
    assert words.startswith("Slot shares not estimated for \u2018nurse\u2019, \u2018mechanic\u2019 and \u2018baker\u2019")
    assert bias_charts.attribution_chart(result) is None  # nothing is drawn that could contradict a gap
    nurse = result["candidates"][0]
    nurse["attribution"].update(gap_low=[0.2, 1.2], gap_high=[0.6, 2.0], total_low=[1.4], total_high=[2.6])
    frame = bias_charts.attribution_frame(result)
    assert list(frame["candidate"]) == ["nurse", "nurse"]
    assert list(frame["share"]) == [0.4, 1.6] and list(frame["low"]) == [0.2, 1.2] and set(frame["gap"]) == {2.0}
    chart = bias_charts.attribution_chart(result).to_dict()
    tick = next(layer for layer in chart["layer"] if layer["mark"]["type"] == "tick")
    dots = next(layer for layer in chart["layer"] if layer["mark"]["type"] == "circle")
    assert tick["encoding"]["x"]["field"] == "gap" and dots["encoding"]["x"]["field"] == "share"
    assert "on the gap's scale" in dots["encoding"]["x"]["title"]


def test_the_caption_explains_a_one_slot_template() -> None:
    two = shares.caption(BIAS_RESULT)
    assert "pronoun rather than the name" in two and "This template has one slot" not in two
    one = copy.deepcopy(BIAS_RESULT)
    one["attribution"]["features"] = ["age"]
    words = shares.caption(one)
    assert "This template has one slot, so its share is the gap itself" in words
    assert "pronoun rather than the name" not in words


@pytest.mark.slow
def test_a_one_slot_share_over_every_prompt_is_the_gap(lm) -> None:
    # every prompt attributed, every value of the other group swapped in: the share is the gap exactly
    spec = {
        "kind": "bias", "model": "default", "template": "The {age} person at the desk works as a",
        "sweep": {"slots": ["age"], "groups": {"young": ["young", "teenage", "youthful"],
                                               "old": ["old", "elderly", "aged"]}},
        "candidates": [" receptionist", " cashier"], "compare": ["young", "old"],
        "bootstrap": 400, "permutations": 200, "seed": 1,
        "attribution": {"enabled": True, "method": "feature_ablation", "trials": 3, "prompts": 6},
    }
    result = run_bias(spec, lm=lm).to_dict()
    for entry in result["candidates"]:
        attribution = entry["attribution"]
        assert attribution["gap"][0] == pytest.approx(entry["gap"], abs=1e-4)
        assert attribution["gap_low"][0] <= entry["gap"] + 1e-4 and entry["gap"] - 1e-4 <= attribution["gap_high"][0]
        assert shares.estimated(entry)
    assert shares.not_estimated_sentence(result) is None
    assert "one slot" in shares.caption(result)
