"""Charts and sentences drawn from a result dict (no model needed)."""

from __future__ import annotations

import csv
import io
import math

import pytest

from core.present import charts


def _result(**over):
    base = {
        "features": ["Dave", "Palm Coast", "FL", "lawyer"],
        "seq_attr": [0.5, -0.25, 2.0, -3.0],
        "token_attr": [[0.1, -0.2, 1.0, -2.0], [0.4, -0.05, 1.0, -1.0]],
        "output_tokens": [" golf", ","],
        "score_all": math.log(0.032),
        "score_none": math.log(0.5),
        "spec": {"score": "log_prob"},
        "target": {"text": " golf,", "contrast": None},
        "prompt_tokens": ["D", "ave", " Palm", " Coast", " FL", " lawyer"],
        "feature_tokens": [[0, 1], [2, 3], [4], [5]],
        "extra": {},
        "meta": {},
    }
    base.update(over)
    return base


def test_bar_chart_keeps_prompt_order_and_has_a_zero_line() -> None:
    spec = charts.sequence_bar_chart(_result()).to_dict()
    bars, zero = spec["layer"]
    assert bars["encoding"]["y"]["sort"] == ["Dave", "Palm Coast", "FL", "lawyer"]
    mark = zero["mark"]["type"] if isinstance(zero["mark"], dict) else zero["mark"]
    assert mark == "rule"
    colours = bars["encoding"]["color"]["scale"]
    assert colours["range"][:2] == [charts.TOWARD_COLOR, charts.AGAINST_COLOR]


def test_bar_chart_values_follow_the_override() -> None:
    chart = charts.sequence_bar_chart(_result(), values=[1.0, 2.0, 3.0, 4.0])
    values = [row["attribution"] for row in chart.layer[0].data.to_dict("records")]
    assert values == [1.0, 2.0, 3.0, 4.0]


def test_heatmap_scale_is_symmetric_around_zero() -> None:
    spec = charts.token_heatmap(_result()).to_dict()
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"] == [-2.0, 2.0] and scale["domainMid"] == 0
    assert any(t["field"] == "attribution" for t in spec["encoding"]["tooltip"])
    assert charts.token_heatmap(_result(token_attr=None)) is None


def test_output_labels_are_unique_even_for_repeated_tokens() -> None:
    labels = charts.output_labels(_result(output_tokens=[",", ",", "\n"]))
    assert len(set(labels)) == 3 and "\u21b5" in labels[2]


def test_span_attribution_sums_the_chosen_rows() -> None:
    r = _result()
    assert charts.span_attribution(r, None) == r["seq_attr"]
    assert charts.span_attribution(r, (0, 1)) == pytest.approx([0.5, -0.25, 2.0, -3.0])
    assert charts.span_attribution(r, (1, 1)) == [0.4, -0.05, 1.0, -1.0]


def test_summary_names_strongest_push_each_way() -> None:
    sentence = charts.summary_sentence(_result())
    assert sentence.startswith("\u2018FL\u2019 pushed the model most toward this output")
    assert "\u2018lawyer\u2019 pushed most against it" in sentence
    assert "no feature pushed against" in charts.summary_sentence(_result(seq_attr=[1.0, 0.0, 0.0, 0.0]))
    assert charts.summary_sentence(_result(seq_attr=[0.0] * 4)).startswith("No part of the prompt")
    contrast = charts.summary_sentence(_result(target={"text": "a", "contrast": "b"}))
    assert "rather than \u2018b\u2019" in contrast


def test_score_sentences_in_plain_words() -> None:
    first, second = charts.score_sentences(_result())
    assert "probability of the target with the full prompt: 3.2%" in first.lower()
    assert "50%" in second
    assert charts.format_probability(2.3e-13) == "2.3 \u00d7 10\u207b\u00b9\u00b3"
    ratio = charts.score_sentences(_result(target={"text": "a", "contrast": "b"}, score_all=math.log(4)))[0]
    assert "4 times as likely" in ratio


GRADIENT_EXTRA = {
    "token_level": {
        "tokens": ["Dave", " lives", " in", " Palm", " Co", "ast", ","],
        "token_indices": [0, 1, 2, 3, 4, 5, 6],
        "seq_attr": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        "token_attr": [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]],
    }
}


def test_words_sum_their_tokens_without_recomputing() -> None:
    r = _result(extra=GRADIENT_EXTRA)
    words = charts.at_level(r, "words")
    assert words["features"] == ["Dave", "lives", "in", "Palm", "Coast", ","]
    assert words["seq_attr"] == [1.0, 2.0, 3.0, 4.0, 11.0, 7.0]
    assert words["token_attr"] == [[1.0, 1.0, 1.0, 1.0, 2.0, 1.0]]
    assert words["feature_tokens"][4] == [4, 5]
    tokens = charts.at_level(r, "tokens")
    assert tokens["seq_attr"] == GRADIENT_EXTRA["token_level"]["seq_attr"]
    assert charts.at_level(_result(), "tokens")["features"] == _result()["features"]


def test_csv_has_one_row_per_feature() -> None:
    rows = list(csv.reader(io.StringIO(charts.attribution_csv(_result()))))
    assert rows[0] == ["feature", "attribution", "1:  golf", "2: ,"]
    assert [r[0] for r in rows[1:]] == ["Dave", "Palm Coast", "FL", "lawyer"]
    assert float(rows[4][1]) == -3.0


def test_png_export_is_a_png() -> None:
    png = charts.chart_png(charts.sequence_bar_chart(_result()), scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert charts.chart_svg(charts.token_heatmap(_result())).lstrip().startswith("<svg")
