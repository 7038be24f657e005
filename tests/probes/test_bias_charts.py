"""core.probes.bias.charts: gap chart marks and intervals, tables, per-prompt scores, attribution heatmap, escaping.

Mechanics only: the results here are written by hand (no model), so every
expected value is the input itself, not a number copied from a run.
"""

from __future__ import annotations

import copy
import io
import math

import pandas as pd
import pytest

from core.present.charts import chart_svg
from core.probes.bias import charts as bias_charts
from tests.result_samples import BIAS_RESULT as RESULT


def _layer(chart, mark: str):
    """The layer of a layered chart drawn with ``mark``."""
    found = [
        layer
        for layer in chart.layer
        if (layer.mark if isinstance(layer.mark, str) else layer.mark.type) == mark
    ]
    assert found, f"no {mark} layer"
    return found


def test_gap_chart_has_one_dot_per_candidate_with_its_interval() -> None:
    chart = bias_charts.gap_chart(RESULT)
    dots = _layer(chart, "circle")[0]
    frame = dots.data
    with_gap = [e for e in RESULT["candidates"] if e["gap"] is not None]
    assert len(frame) == len(with_gap)  # the candidate without a gap is left out
    assert list(frame["text"]) == [e["text"] for e in with_gap]
    assert list(frame["gap"]) == [e["gap"] for e in with_gap]
    assert list(frame["ci_low"]) == [e["gap_ci"][0] for e in with_gap]
    assert list(frame["ci_high"]) == [e["gap_ci"][1] for e in with_gap]
    spec = chart.to_dict()
    layers = spec["layer"]
    dot = next(layer for layer in layers if layer["mark"]["type"] == "circle")
    bar = next(layer for layer in layers if layer["mark"]["type"] == "rule" and "x2" in layer["encoding"])
    assert dot["encoding"]["x"]["field"] == "gap"
    assert (bar["encoding"]["x"]["field"], bar["encoding"]["x2"]["field"]) == ("ci_low", "ci_high")
    assert dot["encoding"]["y"]["sort"] == ["nurse", "mechanic", "baker"]  # ranked, spaces trimmed
    zero = [layer for layer in layers if layer["mark"]["type"] == "rule" and "x2" not in layer["encoding"]]
    assert zero, "the zero line is missing"
    # diverging colours for findings only: grey for an interval across zero or a corrected p of 0.05 or more
    directions = dict(zip(frame["text"], frame["direction"]))
    assert directions[" nurse"] == "finding: more likely with female names"  # Holm p 0.03, interval 1.5 to 2.5
    # interval off zero, Holm p 0.06, and 2 names per group can never reach 0.05 (issue 22)
    assert directions[" mechanic"] == "likely, add values: more likely with male names"
    assert directions[" baker"] == bias_charts.NO_FINDING  # interval -0.3 to 0.5 crosses zero
    colour = dot["encoding"]["color"]["scale"]
    assert colour["range"][0] != colour["range"][1]
    assert colour["range"][colour["domain"].index(bias_charts.NO_FINDING)] == bias_charts.NEUTRAL_COLOR
    assert dot["encoding"]["color"]["legend"]["labelLimit"] == 0  # legend labels are never cut
    male = copy.deepcopy(RESULT)
    male["candidates"][1]["p_holm"] = 0.01
    assert dict(zip(bias_charts.gap_frame(male)["text"], bias_charts.gap_frame(male)["direction"]))[
        " mechanic"
    ] == "finding: more likely with male names"
    assert "90%" in dot["encoding"]["x"]["title"]  # the spec's level, not a fixed 95%


def test_no_gaps_means_no_chart() -> None:
    result = copy.deepcopy(RESULT)
    result["candidates"] = [result["candidates"][-1]]
    assert bias_charts.gap_chart(result) is None


def test_hostile_text_is_data_not_markup() -> None:
    result = copy.deepcopy(RESULT)
    evil = ' <img src=x onerror="alert(1)">'
    result["candidates"][0]["text"] = evil
    # group names with characters that vega would read as field paths
    for entry in result["candidates"]:
        entry["groups"] = {"a.b[0]": entry["groups"]["female"], "<b>m</b>": entry["groups"]["male"]}
    result["compare"] = ["a.b[0]", "<b>m</b>"]
    result["groups"] = [{"name": "a.b[0]"}, {"name": "<b>m</b>"}]
    for prompt in result["prompts"]:
        prompt["group"] = "a.b[0]" if prompt["group"] == "female" else "<b>m</b>"
    chart = bias_charts.gap_chart(result)
    svg = chart_svg(chart)
    assert "<img" not in svg and "&lt;img" in svg
    assert "<b>m</b>" not in svg
    dist = bias_charts.distribution_chart(result, evil, "log_prob")
    assert "<img" not in chart_svg(dist)
    table = bias_charts.candidates_table(result)
    assert "a.b[0]: mean" in table.columns and "<b>m</b>: CI high" in table.columns
    assert table["candidate"][0] == evil.strip()


def test_candidates_table_has_every_number() -> None:
    table = bias_charts.candidates_table(RESULT)
    assert list(table["candidate"]) == ["nurse", "mechanic", "baker", "void"]
    nurse = RESULT["candidates"][0]
    row = table.iloc[0]
    assert row["female: mean"] == nurse["groups"]["female"]["mean"]
    assert (row["male: CI low"], row["male: CI high"]) == tuple(nurse["groups"]["male"]["ci"])
    assert (row["gap"], row["gap CI low"], row["gap CI high"]) == (nurse["gap"], *nurse["gap_ci"])
    assert (row["p-value"], row["Holm p-value"]) == (nurse["p_value"], nurse["p_holm"])
    assert row["effect size (d)"] == nurse["effect_size"]
    assert (row["probability ratio"], row["ratio CI low"], row["ratio CI high"]) == (
        nurse["prob_ratio"],
        *nurse["prob_ratio_ci"],
    )
    assert math.isnan(table.iloc[3]["gap"])  # a missing gap stays missing, not zero


def test_csv_keeps_the_exact_candidate_text() -> None:
    frame = pd.read_csv(io.StringIO(bias_charts.candidates_csv(RESULT)))
    assert list(frame["candidate"]) == [e["text"] for e in RESULT["candidates"]]
    assert frame["gap"].iloc[1] == pytest.approx(-1.2)


def test_scores_per_prompt_follow_the_prompts() -> None:
    logp = bias_charts.score_frame(RESULT, " mechanic", "log_prob")
    assert list(logp["group"]) == ["female", "female", "male", "male"]
    assert list(logp["values"]) == ["Mary / She", "Ann / She", "John / He", "Tom / He"]
    assert list(logp["score"]) == RESULT["candidates"][1]["log_probs"]
    prob = bias_charts.score_frame(RESULT, " mechanic", "prob")
    assert list(prob["score"]) == RESULT["candidates"][1]["renorm_probs"]
    assert bias_charts.distribution_chart(RESULT, " mechanic") is not None
    assert bias_charts.distribution_chart(RESULT, " not a candidate") is None


def test_attribution_chart_is_candidates_by_slots() -> None:
    assert bias_charts.attribution_frame(RESULT).empty  # shares without intervals are not estimated (issue 22)
    result = copy.deepcopy(RESULT)
    for entry in result["candidates"][:3]:  # intervals whose total agrees with each gap
        shares, (low, high) = entry["attribution"]["gap"], entry["gap_ci"]
        entry["attribution"].update(gap_low=[v - 0.1 for v in shares], gap_high=[v + 0.1 for v in shares],
                                    total_low=[low], total_high=[high])
    frame = bias_charts.attribution_frame(result)
    assert len(frame) == 3 * 2  # three candidates with shares x two slots
    nurse = frame[frame["candidate"] == "nurse"].sort_values("order")
    assert list(nurse["feature"]) == ["name", "pronoun"]
    assert list(nurse["share"]) == RESULT["candidates"][0]["attribution"]["gap"]
    assert bias_charts.attribution_chart(result) is not None
    plain = copy.deepcopy(RESULT)
    plain["attribution"] = None
    for entry in plain["candidates"]:
        entry["attribution"] = None
    assert bias_charts.attribution_chart(plain) is None


def test_labels_keep_candidates_apart() -> None:
    assert bias_charts.candidate_labels([" nurse", " baker"]) == ["nurse", "baker"]
    labels = bias_charts.candidate_labels([" nurse", "nurse"])
    assert len(set(labels)) == 2


def test_nouns_and_levels_come_from_the_result() -> None:
    assert bias_charts.value_noun(RESULT) == "names"
    assert bias_charts.value_noun({"spec": {"sweep": {"slots": ["country"]}}}) == "countries"
    assert bias_charts.level_words(RESULT) == "90%"
    assert "16 forward passes" in bias_charts.facts_sentence(RESULT)


def test_gap_and_ratio_pointing_different_ways_are_named() -> None:
    result = copy.deepcopy(RESULT)
    for entry, ratio in zip(result["candidates"], [3.0, 0.4, 1.1, None]):
        entry["prob_ratio"] = ratio
    assert bias_charts.disagreement_sentence(result) is None  # every gap agrees with its ratio
    result["candidates"][1]["prob_ratio"] = 1.3  # mechanic: negative gap, ratio above 1
    sentence = bias_charts.disagreement_sentence(result)
    assert sentence is not None and "mechanic" in sentence and "nurse" not in sentence
