"""core.probes.few_shot.charts: bars with spread and zero line, symmetric heatmap, accuracy table, CSV, sentences.

Mechanics only: the results here are written by hand (no model), so every
expected value is derived from the input itself, not copied from a run.
"""

from __future__ import annotations

import copy
import io

import pandas as pd
import pytest

from core.present.charts import AGAINST_COLOR, TOWARD_COLOR, chart_svg
from core.probes.few_shot import charts
from tests.result_samples import FEW_SHOT_RESULT as RESULT


def with_instruction() -> dict:
    """RESULT with the instruction measured as a fourth feature."""
    result = copy.deepcopy(RESULT)
    result["instruction"] = {
        "text": "Classify the review.",
        "shapley": -0.04,
        "std": 0.01,
        "per_query": [-0.05, -0.03],
        "prob_without": 0.7,
        "accuracy_without": 1.0,
    }
    result["accuracy"]["without_instruction"] = 1.0
    result["mean_prob"]["without_instruction"] = 0.7
    result["meta"]["n_features"] = 4
    return result


def _layers(chart) -> list[dict]:
    return chart.to_dict()["layer"]


def _data(chart) -> list[dict]:
    spec = chart.to_dict()
    return next(iter(spec["datasets"].values())) if "datasets" in spec else []


# ---------------------------------------------------------------- frames


def test_example_frame_is_in_points_with_spread_and_direction() -> None:
    frame = charts.example_frame(RESULT)
    assert list(frame["order"]) == [0, 1, 2]
    for row, entry in zip(frame.itertuples(), RESULT["examples"]):
        assert row.shapley == pytest.approx(entry["shapley"] * 100)
        assert row.low == pytest.approx((entry["shapley"] - entry["std"]) * 100)
        assert row.high == pytest.approx((entry["shapley"] + entry["std"]) * 100)
        assert row.min == pytest.approx(min(entry["per_query"]) * 100)
        assert row.max == pytest.approx(max(entry["per_query"]) * 100)
    assert list(frame["direction"]) == [charts.HELPS, charts.HELPS, charts.HURTS]
    # a value under 0.05 points is "no effect", whatever its sign
    assert charts.direction(-0.0004) == charts.NO_EFFECT
    assert charts.direction(None) == charts.NO_EFFECT


def test_labels_are_unique_and_one_line() -> None:
    result = copy.deepcopy(RESULT)
    result["examples"][1]["input"] = result["examples"][0]["input"] + "\n" + "x" * 80
    labels = [label for label, _ in charts.feature_entries(result)]
    assert len(set(labels)) == 3
    assert all("\n" not in label for label in labels)
    assert labels[1].startswith("2. A warm and funny film. x") and "\u2026" in labels[1]


def test_heatmap_frame_has_one_cell_per_query_and_example() -> None:
    frame = charts.heatmap_frame(RESULT)
    assert len(frame) == 2 * 3
    for entry in RESULT["examples"]:
        cells = frame[frame["col"] == entry["index"]].sort_values("row")
        assert list(cells["value"]) == pytest.approx([v * 100 for v in entry["per_query"]])
    assert set(frame["expected"]) == {"positive", "negative"}


def test_accuracy_table_rows_and_values() -> None:
    table = charts.accuracy_table(RESULT)
    prompts = list(table["prompt"])
    assert prompts[0].startswith("Zero-shot")
    assert prompts[1] == "All 3 examples"
    assert [p.startswith(f"Without example {i}") for i, p in enumerate(prompts[2:5], start=1)] == [True] * 3
    assert prompts[5] == "Best subset (examples 1 and 2), on the queries it was chosen on"
    assert [p.split(":")[0] for p in prompts[6:]] == ["Order spread"] * 3
    acc = RESULT["accuracy"]
    expected_acc = [acc["zero_shot"], acc["all"], *acc["leave_one_out"], acc["best_subset"], 2.5 / 3, 0.5, 1.0]
    assert list(table["accuracy (%)"]) == pytest.approx([a * 100 for a in expected_acc])
    assert list(table["right"]) == ["1 of 2", "2 of 2", "1 of 2", "2 of 2", "2 of 2", "2 of 2", "1.7 of 2 on average", "1 of 2", "2 of 2"]
    prob = RESULT["mean_prob"]
    expected_prob = [prob["zero_shot"], prob["all"], *prob["leave_one_out"], prob["best_subset"], 1.7 / 3, 0.4, 0.7]
    assert list(table["right-label probability (%)"]) == pytest.approx([p * 100 for p in expected_prob])


def test_accuracy_table_without_orders_and_with_instruction() -> None:
    result = with_instruction()
    result["order_sensitivity"] = {"orders": [], "accuracy": [], "mean_prob": [], "mean": None, "min": None, "max": None}
    table = charts.accuracy_table(result)
    assert not any(p.startswith("Order spread") for p in table["prompt"])
    row = table[table["prompt"] == "All examples, without the instruction"]
    assert list(row["accuracy (%)"]) == [100.0]


def test_examples_csv_keeps_probability_units_and_per_query_values() -> None:
    frame = pd.read_csv(io.StringIO(charts.examples_csv(with_instruction())))
    assert list(frame["example"]) == ["1", "2", "3", "instruction"]
    assert list(frame["input"])[2] == "I loved every <b>minute</b> of it."
    assert list(frame["shapley"]) == pytest.approx([e["shapley"] for e in RESULT["examples"]] + [-0.04])
    assert list(frame["query_2"]) == pytest.approx([0.10, 0.06, 0.10, -0.03])


def test_examples_table_shows_points() -> None:
    table = charts.examples_table(RESULT)
    assert list(table["#"]) == ["1", "2", "3"]
    assert list(table["Shapley value (points)"]) == pytest.approx([e["shapley"] * 100 for e in RESULT["examples"]])


# ---------------------------------------------------------------- sentences


def test_hurting_and_best_subset_sentences() -> None:
    hurt = charts.hurting_sentence(RESULT)
    assert hurt.startswith("Hurting: example 3 (") and "labelled negative" in hurt
    assert "10.0 points" in hurt  # mean of -0.30 and 0.10
    assert "example 1" not in hurt and "example 2" not in hurt
    both = charts.hurting_sentence(with_instruction())
    assert both.index("example 3") < both.index("the instruction")  # most hurting first
    none = copy.deepcopy(RESULT)
    none["examples"][2]["shapley"] = 0.01
    assert charts.hurting_sentence(none).startswith("No example lowers")
    best = charts.best_subset_sentence(RESULT)
    assert best.startswith("Best subset: examples 1 and 2, 2 of 2 queries right")
    assert "'A warm and funny film.' → positive" in best and "minute" not in best
    empty = copy.deepcopy(RESULT)
    empty["best_subset"] = []
    assert "instruction alone" in charts.best_subset_sentence(empty)
    assert charts.subset_words({"best_subset": [3]}) == "example 4"


# ---------------------------------------------------------------- charts


def test_bar_chart_diverging_colours_error_bars_and_zero_line() -> None:
    chart = charts.example_bar_chart(RESULT)
    layers = _layers(chart)
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in layers]
    assert marks == ["bar", "errorbar", "rule"]
    color = layers[0]["encoding"]["color"]["scale"]
    assert dict(zip(color["domain"], color["range"])) == {
        charts.HELPS: TOWARD_COLOR,
        charts.HURTS: AGAINST_COLOR,
        charts.NO_EFFECT: charts.NEUTRAL_COLOR,
    }
    assert layers[1]["encoding"]["x"]["field"] == "low" and layers[1]["encoding"]["x2"]["field"] == "high"
    zero = layers[2]
    assert zero["encoding"]["x"]["field"] == "zero"
    # examples stay in prompt order
    assert layers[0]["encoding"]["y"]["sort"] == [label for label, _ in charts.feature_entries(RESULT)]
    svg = chart_svg(chart)
    assert svg.startswith("<svg") and "<b>" not in svg  # user text is drawn as text


def test_bar_chart_includes_the_instruction_and_handles_empty() -> None:
    data = _data(charts.example_bar_chart(with_instruction()))
    kinds = [row["kind"] for row in data if "kind" in row]
    assert kinds == ["example", "example", "example", "instruction"]
    assert charts.example_bar_chart({**RESULT, "examples": []}) is None
    assert charts.query_example_heatmap({**RESULT, "examples": []}) is None


def test_heatmap_scale_is_symmetric_and_centred_on_zero() -> None:
    chart = charts.query_example_heatmap(RESULT)
    scale = chart.to_dict()["encoding"]["color"]["scale"]
    biggest = 30.0  # the largest |per-query value| is 0.30, in points
    assert scale["domain"] == pytest.approx([-biggest, biggest])
    assert scale["domainMid"] == 0
    assert scale["scheme"] == "redblue"  # red negative (hurts), blue positive (helps)
    assert chart_svg(chart).startswith("<svg")
