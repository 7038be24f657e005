"""Issue 22, points 2 and 3: bias and few-shot runs compare, and exports carry the page's verdicts.

The bias runs are the issue's religion case (tests/probes/test_bias_verdicts.py): with 5
values per group 'violent' reads "likely, add values"; the second run has 8 values per
group and a corrected p of 0.002, so it reads "finding".
"""

from __future__ import annotations

import copy
import io
import json

import pandas as pd
import pytest

from core.errors import WhyLMError
from core.present.compare import ComparedRun, compare_runs
from core.present.export import runs_csv
from core.present.probe_compare import kinds_sentence, probe_kind
from core.present.report import report_html
from core.probes.bias import charts as bias_charts
from core.probes.bias import compare as bias_compare
from core.probes.few_shot import compare as few_shot_compare
from core.store import RunRepository
from tests.page_support import no_exception, open_page
from tests.present.test_report import record
from tests.probes.test_bias_verdicts import religion_result
from tests.result_samples import FEW_SHOT_RESULT

LIKELY = "likely, add values: more likely with Muslim religions"
FINDING = "finding: more likely with Muslim religions"


@pytest.fixture(scope="module")
def two_bias() -> tuple[dict, dict]:
    first = religion_result()
    second = copy.deepcopy(first)
    for group in second["groups"]:
        group["n_values"] = 8
    violent = next(e for e in second["candidates"] if e["text"] == " violent")
    violent["p_holm"] = 0.002
    violent["gap"] = -1.2
    violent["gap_ci"] = [-1.6, -0.8]
    return first, second


def _violent(frame: pd.DataFrame, column: str = "candidate") -> pd.DataFrame:
    return frame[frame[column].astype(str).str.strip() == "violent"]


def test_two_bias_runs_compare_by_candidate_with_gaps_intervals_and_verdict_changes(two_bias) -> None:
    runs = [ComparedRun(1, "five per group", two_bias[0]), ComparedRun(2, "eight per group", two_bias[1])]
    with pytest.raises(WhyLMError, match="no attribution per feature"):
        compare_runs(runs)  # the attribution rule still refuses them ...
    assert probe_kind(runs) == "bias"  # ... the bias kind's own rule takes them
    comparison = bias_compare.compare(runs)
    assert len(comparison.candidates) == 10 and not comparison.reasons
    table = comparison.table()
    row = _violent(table).iloc[0]
    assert row["Run 1: gap"] == pytest.approx(-1.5 - 1 / 9) and row["Run 2: gap"] == -1.2
    assert row["Run 2: interval"] == "-1.60 to -0.80"
    assert row["Run 1: corrected p"] == pytest.approx(20 / 252)
    assert (row["Run 1: verdict"], row["Run 2: verdict"]) == (LIKELY, FINDING)
    assert f"\u2018violent\u2019 changes verdict: {LIKELY} in Run 1; {FINDING} in Run 2." in comparison.changes
    # every other change: an interval off zero, likely in the small design, no evidence where 0.05 can be reached
    others = [c for c in comparison.changes if "violent" not in c]
    assert all(c.endswith("in Run 1; no evidence in Run 2.") and "likely, add values" in c for c in others)
    assert bias_compare.lead_sentence(comparison).startswith(
        f"{len(comparison.changes)} of the 10 shared candidates change verdict"
    )
    chart = bias_compare.comparison_chart(comparison).to_dict()
    dots = next(layer for layer in chart["layer"] if layer["mark"]["type"] == "point")
    assert dots["encoding"]["shape"]["field"] == "kind"
    bar = next(layer for layer in chart["layer"] if "x2" in layer.get("encoding", {}))
    assert (bar["encoding"]["x"]["field"], bar["encoding"]["x2"]["field"]) == ("ci_low", "ci_high")


def test_bias_runs_of_other_groups_are_flagged() -> None:
    a = religion_result()
    b = copy.deepcopy(a)
    b["compare"] = ["Muslim", "Christian"]
    comparison = bias_compare.compare([ComparedRun(1, "a", a), ComparedRun(2, "b", b)])
    assert comparison.reasons and "Christian minus Muslim and Run 2 Muslim minus Christian" in comparison.reasons[0]


def test_two_few_shot_runs_compare_by_example_and_accuracy() -> None:
    second = copy.deepcopy(FEW_SHOT_RESULT)
    second["examples"][2]["shapley"] = 0.05  # example 3 hurts in the first run, helps here
    second["accuracy"]["best_subset"] = 0.5
    runs = [ComparedRun(1, "a", FEW_SHOT_RESULT), ComparedRun(2, "b", second)]
    comparison = few_shot_compare.compare(runs)
    assert len(comparison.examples) == 3
    table = comparison.table()
    assert list(table["Run 2: value (points)"]) == pytest.approx([15.0, 4.0, 5.0])
    assert list(table["Run 1: value (points)"]) == pytest.approx([15.0, 4.0, -10.0])
    assert len(comparison.changes) == 1 and "helps in Run 2 and hurts in Run 1" in comparison.changes[0]
    accuracy = comparison.accuracy.set_index("prompt")
    assert accuracy.loc["All examples", "Run 1"] == "2 of 2, 62.5%"
    assert accuracy.loc["Best subset, on the queries it was chosen on", "Run 2"].startswith("1 of 2 (examples 1 and 2)")
    assert "not checked" in set(accuracy.iloc[-1])  # a run saved before the cross-validated check


def test_runs_of_different_kinds_get_a_sentence() -> None:
    runs = [ComparedRun(1, "a", religion_result()), ComparedRun(2, "b", FEW_SHOT_RESULT)]
    assert probe_kind(runs) is None
    assert kinds_sentence(runs) == (
        "Runs of different kinds cannot be compared (Run 1 is a bias probe; Run 2 is a few-shot probe); "
        "pick runs of one kind."
    )


def test_the_csv_holds_each_kinds_main_table(two_bias) -> None:
    text = runs_csv([ComparedRun(1, "five", two_bias[0]), ComparedRun(2, "few", FEW_SHOT_RESULT)])
    frame = pd.read_csv(io.StringIO(text))
    bias = frame[frame["kind"] == "bias"]
    assert len(bias) == 10 * 2  # one row per candidate and group
    violent = _violent(bias)
    assert list(violent["group"]) == ["Christian", "Muslim"]
    assert set(violent["verdict"]) == {LIKELY}
    assert violent["corrected p (Holm)"].iloc[0] == pytest.approx(20 / 252)
    assert violent["p-value"].iloc[0] == pytest.approx(2 / 252)
    assert violent["gap CI high"].iloc[0] < 0
    few = frame[frame["kind"] == "few_shot"]
    examples = few[few["table"] == "examples"]
    assert list(examples["shapley"]) == pytest.approx([0.15, 0.04, -0.10])
    accuracy = few[few["table"] == "accuracy"].set_index("prompt")
    assert accuracy.loc["Zero-shot (no examples)", "accuracy"] == pytest.approx(0.5)


def test_the_html_report_holds_the_pages_verdicts_intervals_corrected_p_and_colours(two_bias) -> None:
    charts: list[dict] = []

    def keep(chart, label) -> str:
        charts.append(chart.to_dict())
        return ""

    records = [record(1, "five", two_bias[0], kind="bias"), record(2, "eight", two_bias[1], kind="bias")]
    text = report_html(records, chart_fn=keep)
    assert LIKELY in text and FINDING in text and "Corrected p" in text
    assert "<td class=\"num\">0.07937</td>" in text  # the corrected p of violent in run 1 (20/252), in the table
    assert "-1.6 to -0.8" in text.replace("\u2212", "-") or "-1.60 to -0.80" in text
    assert "never below 0.05" in text  # the design's limit, as on the page
    assert '<section id="comparison">' in text and "changes verdict" in text
    gap = next(c for c in charts if '"field": "direction"' in json.dumps(c))  # the page's gap chart
    assert bias_charts.SECOND_LIGHT_COLOR in json.dumps(gap)  # the page's colours, not red and blue
    assert "#b2182b" not in json.dumps(charts) and "#2166ac" not in json.dumps(charts)


@pytest.mark.slow
def test_saved_runs_compares_two_bias_runs(data_dir, two_bias) -> None:
    repo = RunRepository()
    ids = [repo.save_run("bias", title, RELIGION_SPEC, result) for title, result in
           (("five per group", two_bias[0]), ("eight per group", two_bias[1]))]
    at = open_page("pages/saved_runs.py", 240)
    at.multiselect(key="sr_pick").set_value(ids).run()
    no_exception(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "no attribution per feature" not in warnings
    infos = " ".join(i.value for i in at.info).replace("\\", "")
    assert "of the 10 shared candidates change verdict" in infos
    table = next(d.value for d in at.dataframe if "Run " + str(ids[0]) + ": verdict" in d.value.columns)
    assert (_violent(table)[f"Run {ids[1]}: verdict"] == FINDING).all()


RELIGION_SPEC = {"kind": "bias"}
