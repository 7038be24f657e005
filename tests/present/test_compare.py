"""core.present.compare: runs aligned by feature label, differences, and the reasons runs are not comparable."""

from __future__ import annotations

import copy
import io

import numpy as np
import pandas as pd
import pytest

from core.errors import WhyLMError
from core.present.compare import (
    ComparedRun,
    compare_runs,
    difference_chart,
    differences,
    grouped_bar_chart,
    runs_csv,
    unique_labels,
)
from tests.saved_runs_support import real_results


def fake(features, values, target_ids=(1, 2), score="log_prob", method="shapley", model="m") -> dict:
    """A minimal attribution result for mechanics tests."""
    return {
        "kind": "attribution",
        "spec": {"score": score},
        "features": list(features),
        "seq_attr": list(values),
        "target": {"ids": list(target_ids), "contrast_ids": None},
        "meta": {"method": method, "model_name": model},
    }


def test_same_labels_in_another_order_are_aligned_by_label() -> None:
    a = ComparedRun(1, "a", fake(["x", "y", "z"], [1.0, 2.0, 3.0]))
    b = ComparedRun(2, "b", fake(["z", "x", "y"], [30.0, 10.0, 20.0]))
    comparison = compare_runs([a, b])
    assert comparison.comparable, comparison.reasons
    assert comparison.labels == ("x", "y", "z")
    assert differences(comparison) == [9.0, 18.0, 27.0]
    assert any("another order" in note for note in comparison.notes)


def test_partial_overlap_names_what_each_run_lacks() -> None:
    a = ComparedRun(1, "a", fake(["x", "y", "z"], [1.0, 2.0, 3.0]))
    b = ComparedRun(2, "b", fake(["x", "w", "z"], [1.5, 9.0, 2.0]))
    comparison = compare_runs([a, b])
    assert not comparison.comparable
    assert comparison.labels == ("x", "z")
    assert comparison.missing == {"Run 1": ("w",), "Run 2": ("y",)}
    text = " ".join(comparison.reasons)
    assert "their features differ" in text
    assert "Run 1 lacks ‘w’" in text and "Run 2 lacks ‘y’" in text
    assert differences(comparison) == [0.5, -1.0]


def test_targets_and_scores_that_differ_are_reasons() -> None:
    a = ComparedRun(1, "a", fake(["x"], [1.0]))
    other_target = ComparedRun(2, "b", fake(["x"], [1.0], target_ids=(1, 3)))
    other_score = ComparedRun(3, "c", fake(["x"], [1.0], score="prob"))
    comparison = compare_runs([a, other_target, other_score])
    text = " ".join(comparison.reasons)
    assert "Run 1 and Run 2" in text and "their targets differ" in text
    assert "Run 1 and Run 3" in text and "probability" in text
    assert comparison.labels == ("x",)


def test_no_shared_label_is_said() -> None:
    comparison = compare_runs([ComparedRun(1, "a", fake(["x"], [1.0])), ComparedRun(2, "b", fake(["y"], [1.0]))])
    assert comparison.labels == ()
    assert any("share no feature labels" in r for r in comparison.reasons)


def test_repeated_labels_are_numbered_and_aligned_by_occurrence() -> None:
    assert unique_labels(["the", "cat", "the"]) == ["the", "cat", "the (2nd)"]
    a = ComparedRun(1, "a", fake(["the", "cat", "the"], [1.0, 2.0, 3.0]))
    b = ComparedRun(2, "b", fake(["the", "cat", "the"], [0.0, 0.0, 1.0]))
    assert differences(compare_runs([a, b])) == [-1.0, -2.0, -2.0]


def test_method_and_model_differences_are_notes_not_reasons() -> None:
    a = ComparedRun(1, "a", fake(["x"], [1.0], method="shapley", model="m1"))
    b = ComparedRun(2, "b", fake(["x"], [2.0], method="lime", model="m2"))
    comparison = compare_runs([a, b])
    assert comparison.comparable
    assert any("shapley, lime" in n for n in comparison.notes)
    assert any("m1, m2" in n for n in comparison.notes)


@pytest.mark.parametrize("count", [1, 5])
def test_two_to_four_runs(count) -> None:
    runs = [ComparedRun(i, str(i), fake(["x"], [1.0])) for i in range(count)]
    with pytest.raises(WhyLMError, match="two to 4"):
        compare_runs(runs)


def test_runs_without_attribution_are_refused_with_a_sentence() -> None:
    with pytest.raises(WhyLMError, match="no attribution per feature"):
        compare_runs([ComparedRun(1, "a", fake(["x"], [1.0])), ComparedRun(2, "probe", {"kind": "bias"})])


def test_charts_carry_the_aligned_numbers() -> None:
    a = ComparedRun(1, "a", fake(["x", "y"], [1.0, -2.0]))
    b = ComparedRun(2, "b", fake(["y", "x"], [0.5, 4.0]))
    comparison = compare_runs([a, b])
    grouped = grouped_bar_chart(comparison).to_dict()
    rows = next(iter(grouped["datasets"].values()))
    assert {(r["run"], r["feature"], r["seq_attr"]) for r in rows} == {
        ("Run 1", "x", 1.0), ("Run 1", "y", -2.0), ("Run 2", "x", 4.0), ("Run 2", "y", 0.5)
    }
    diff = difference_chart(comparison).to_dict()
    values = [r["difference"] for d in diff["datasets"].values() for r in d if "difference" in r]
    assert values == [3.0, 2.5]


def test_real_runs_with_other_baselines_are_comparable_and_differ(lm) -> None:
    tutorial, baselines, other_values = real_results(lm)
    comparison = compare_runs([ComparedRun(1, "t", tutorial), ComparedRun(2, "b", baselines)])
    assert comparison.comparable, comparison.reasons
    expected = np.subtract(baselines["seq_attr"], tutorial["seq_attr"])
    np.testing.assert_allclose(differences(comparison), expected)
    assert np.abs(expected).max() > 1e-6, "other baselines give other attributions"
    partial = compare_runs([ComparedRun(1, "t", tutorial), ComparedRun(3, "v", other_values)])
    assert partial.labels == ("Dave", "FL", "His")
    assert not partial.comparable


def test_runs_csv_rows(lm) -> None:
    tutorial, baselines, _ = real_results(lm)
    broken = copy.deepcopy(tutorial)
    broken.pop("seq_attr")
    text = runs_csv([ComparedRun(4, "A, with comma", tutorial), ComparedRun(9, "B", baselines), ComparedRun(5, "x", broken)])
    frame = pd.read_csv(io.StringIO(text))
    assert len(frame) == 2 * len(tutorial["features"])
    assert set(frame["run_id"]) == {4, 9}
    assert set(frame[frame["run_id"] == 4]["title"]) == {"A, with comma"}
    np.testing.assert_allclose(frame[frame["run_id"] == 9]["seq_attr"], baselines["seq_attr"])
