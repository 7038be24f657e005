"""The Few-shot prompts page under AppTest: presets load, a small run equals the engine, bad input is a sentence."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core.engine
from core.errors import SpecError
from core.probes.few_shot.spec import few_shot_presets, parse_few_shot_spec
from core.store import RunRepository
from tests.page_support import draw_stored, main_errors, no_exception, open_page
from ui.few_shot.convert import (
    csv_text,
    labels_from_text,
    pairs_from_list_text,
    pairs_from_rows,
    text_from_labels,
)
from ui.few_shot.form import few_shot_error_sentence
from ui.shared.markdown import WORD_JOINER, escape_markdown

TIMEOUT = 240

# The small task the page is driven with: 3 examples x 2 queries, 2 order trials.
EXAMPLES_CSV = (
    "input,label\n"
    '"A warm, funny film.",positive\n'
    "\"Dull, slow and far too long.\",negative\n"
    "I loved every minute of it.,negative\n"
)
QUERIES_TSV = "input\tlabel\nA wonderful surprise.\tpositive\nThe worst film of the year.\tnegative\n"
SMALL = {
    "kind": "few_shot",
    "model": "default",
    "instruction": "Classify the sentiment of each movie review as positive or negative.",
    "examples": [
        {"input": "A warm, funny film.", "label": "positive"},
        {"input": "Dull, slow and far too long.", "label": "negative"},
        {"input": "I loved every minute of it.", "label": "negative"},
    ],
    "example_format": "Review: {input}\nSentiment: {label}\n\n",
    "query_format": "Review: {input}\nSentiment:",
    "queries": [
        {"input": "A wonderful surprise.", "label": "positive"},
        {"input": "The worst film of the year.", "label": "negative"},
    ],
    "labels": ["positive", "negative"],
    "chat": False,
    "include_instruction_as_feature": False,
    "method": "auto",
    "max_exact": 10,
    "n_samples": 25,
    "order_trials": 2,
    "seed": 0,
}


def _page() -> AppTest:
    return open_page("pages/few_shot.py", TIMEOUT)


def _table(at: AppTest, which: str):
    """The examples ("ex") or queries ("q") table as the page's data editor shows it."""
    version = at.session_state[f"fs_{which}_version"]
    return at.data_editor(key=f"fs_{which}_table_{version}").value


def _edit_table(at: AppTest, which: str, edits: dict) -> AppTest:
    """Apply cell edits / deleted rows to a table, the way the browser sends them."""
    version = at.session_state[f"fs_{which}_version"]
    state = {"edited_rows": {}, "added_rows": [], "deleted_rows": []}
    state.update(edits)
    at.session_state[f"fs_{which}_table_{version}"] = state
    return at.run()


def _paste(at: AppTest, which: str, text: str) -> AppTest:
    at.text_area(key=f"fs_{which}_paste").input(text).run()
    return at.button(key=f"fs_{which}_paste_apply").click().run()


def _fill_small(at: AppTest) -> AppTest:
    """Type the small task into the form, the way a person would (sentiment preset's task text)."""
    _paste(at, "ex", EXAMPLES_CSV)
    _paste(at, "q", QUERIES_TSV)
    at.number_input(key="fs_order_trials").set_value(2).run()
    at.number_input(key="fs_seed").set_value(0).run()
    at.text_input(key="fs_title").input("small sentiment").run()
    at.text_input(key="fs_tags").input("few-shot, test").run()
    return at


# ---------------------------------------------------------------- pure helpers


def test_form_conversions() -> None:
    assert labels_from_text(" positive, negative ,,\nneutral") == ["positive", "negative", "neutral"]
    assert labels_from_text(text_from_labels(["a b", "c"])) == ["a b", "c"]
    rows = [{"input": " A ", "label": "x"}, {"input": None, "label": float("nan")}, {"input": "B", "label": "y"}]
    assert pairs_from_rows(rows, "examples") == [{"input": "A", "label": "x"}, {"input": "B", "label": "y"}]
    with pytest.raises(SpecError, match="row 2 .* no label"):
        pairs_from_rows([{"input": "A", "label": "x"}, {"input": "B", "label": ""}], "examples")
    assert csv_text(QUERIES_TSV) == QUERIES_TSV.replace("\t", ",")
    assert pairs_from_list_text(QUERIES_TSV, "q") == SMALL["queries"]
    assert pairs_from_list_text(EXAMPLES_CSV, "ex") == SMALL["examples"]
    with pytest.raises(SpecError) as caught:
        parse_few_shot_spec({**SMALL, "examples": [*SMALL["examples"], {"input": "So-so.", "label": "neutral"}]})
    sentence = few_shot_error_sentence(caught.value)
    assert sentence.startswith("Examples, row 4: 'neutral' is not in the label set")


# ---------------------------------------------------------------- the page


def test_page_renders_and_presets_load(data_dir) -> None:
    at = _page()
    assert not main_errors(at)
    presets = few_shot_presets()
    first = presets["sentiment"]
    # the paper's movie-review task is in the form when the page opens
    assert at.text_area(key="fs_instruction").value == first["instruction"]
    assert at.text_area(key="fs_example_format").value == first["example_format"]
    assert labels_from_text(at.text_input(key="fs_labels").value) == first["labels"]
    assert _table(at, "ex").to_dict("records") == first["examples"]
    assert _table(at, "q").to_dict("records") == first["queries"]
    # load the other preset: its task, tables and settings replace the form
    other_name = next(name for name in presets if name != "sentiment")
    other = presets[other_name]
    at.selectbox(key="fs_preset").set_value(other_name).run()
    at.button(key="fs_load").click().run()
    no_exception(at)
    assert not main_errors(at)
    assert at.text_area(key="fs_instruction").value == other["instruction"]
    assert labels_from_text(at.text_input(key="fs_labels").value) == other["labels"]
    assert _table(at, "ex").to_dict("records") == other["examples"]
    assert _table(at, "q").to_dict("records") == other["queries"]
    assert at.text_input(key="fs_title").value == other.get("title", "")


@pytest.mark.slow
def test_small_run_matches_the_engine_and_is_saved(data_dir, lm) -> None:
    at = _page()
    _fill_small(at)
    assert not main_errors(at)
    at.button(key="fs_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not main_errors(at)
    shown = at.session_state["fs_result"]
    # the form built the small spec
    assert parse_few_shot_spec(shown["spec"]).raw == parse_few_shot_spec(SMALL).raw
    expected = core.engine.run(copy.deepcopy(SMALL), lm=lm).to_dict()
    tables = {tuple(d.value.columns): d.value for d in [*at.dataframe, *at.table]}
    per_example = next(t for cols, t in tables.items() if "Shapley value (points)" in cols)
    assert list(per_example["example"]) == [e["input"] for e in SMALL["examples"]]
    np.testing.assert_allclose(
        per_example["Shapley value (points)"], [e["shapley"] * 100 for e in expected["examples"]], atol=1e-6
    )
    np.testing.assert_allclose(
        per_example["spread across queries (points)"], [e["std"] * 100 for e in expected["examples"]], atol=1e-6
    )
    accuracy = next(t for cols, t in tables.items() if "accuracy (%)" in cols).set_index("prompt")
    acc = expected["accuracy"]
    assert accuracy.loc["Zero-shot (no examples)", "accuracy (%)"] == pytest.approx(acc["zero_shot"] * 100)
    assert accuracy.loc["All 3 examples", "accuracy (%)"] == pytest.approx(acc["all"] * 100)
    assert accuracy.loc["Zero-shot (no examples)", "right-label probability (%)"] == pytest.approx(
        expected["mean_prob"]["zero_shot"] * 100, abs=1e-6
    )
    loo = [accuracy.loc[p, "accuracy (%)"] for p in accuracy.index if p.startswith("Without example")]
    assert loo == pytest.approx([a * 100 for a in acc["leave_one_out"]])
    assert any(p.startswith("Best subset") for p in accuracy.index)
    assert any(p.startswith("Order spread: mean over 2") for p in accuracy.index)
    # the findings in plain words are the result's summary, escaped
    assert any(i.value == escape_markdown(expected["summary"]) for i in at.info)
    assert len(at.get("vega_lite_chart")) == 2  # the bars and the heatmap
    # saved as a few-shot run with its title and tags
    runs = RunRepository().list_runs()
    assert [(r.kind, r.status, r.title) for r in runs] == [("few_shot", "done", "small sentiment")]
    record = RunRepository().get_run(runs[0].id)
    assert record.result["examples"][0]["shapley"] == shown["examples"][0]["shapley"]
    assert sorted(record.tags) == ["few-shot", "test"]


def test_bad_inputs_are_sentences(data_dir) -> None:
    at = _page()

    def run_error(expected: str) -> None:
        at.button(key="fs_run").click().run()
        no_exception(at)
        assert any(expected in e for e in main_errors(at)), main_errors(at)
        assert "fs_result" not in at.session_state
        assert "fs_job" not in at.session_state

    _paste(at, "ex", EXAMPLES_CSV)
    _paste(at, "q", QUERIES_TSV)
    # a label not in the label set, typed into the table
    _edit_table(at, "ex", {"edited_rows": {1: {"label": "neutral"}}})
    run_error("Examples, row 2: 'neutral' is not in the label set (positive, negative)")
    _paste(at, "ex", EXAMPLES_CSV)
    # no queries: every row of the queries table deleted
    _edit_table(at, "q", {"deleted_rows": [0, 1]})
    run_error("Queries: there are no queries")
    _paste(at, "q", QUERIES_TSV)
    # zero examples
    _edit_table(at, "ex", {"deleted_rows": [0, 1, 2]})
    run_error("Examples: there are no examples")
    _paste(at, "ex", EXAMPLES_CSV)
    # a CSV with the wrong columns, uploaded: the loader's sentence, the table unchanged
    before = _table(at, "q")
    at.file_uploader(key="fs_q_csv").upload("queries.csv", b"text,sentiment\nGreat.,positive\n", "text/csv").run()
    no_exception(at)
    assert any("needs the columns input and label" in e and "text, sentiment" in e for e in main_errors(at)), main_errors(at)
    assert _table(at, "q").equals(before)
    # the same, pasted
    _paste(at, "ex", "review;label\nGreat.;positive\n")
    no_exception(at)
    assert any(e.startswith("Examples: the CSV needs the columns input and label") for e in main_errors(at))
    # a format without {label}
    at.text_area(key="fs_example_format").input("Review: {input}\n\n").run()
    run_error("Example format: the format needs {label}")


def test_many_examples_say_sampling_before_the_run(data_dir) -> None:
    at = _page()
    rows = "".join(f"Review number {i} of the film.,{'positive' if i % 2 else 'negative'}\n" for i in range(12))
    _paste(at, "ex", "input,label\n" + rows)
    no_exception(at)
    notes = [i.value for i in at.info]
    assert any("12 examples" in n and "more than 10" in n and "switches to sampling" in n for n in notes), notes
    assert any("Shapley sampling: 25 random orders" in c.value.replace("\\", "") for c in at.caption)
    # at 10 examples it stays exact
    _paste(at, "ex", "input,label\n" + "".join(rows.splitlines(keepends=True)[:10]))
    assert not any("switches to sampling" in i.value for i in at.info)
    assert any("all 1,024 subsets" in c.value.replace("\\", "") for c in at.caption)
    # the instruction as an eleventh feature tips it over the limit
    at.checkbox(key="fs_as_feature").check().run()
    no_exception(at)
    notes = [i.value for i in at.info]
    assert any("10 examples and the instruction (11 features" in n and "switches to sampling" in n for n in notes)
    # forcing exact Shapley keeps it exact and says what it costs
    at.radio(key="fs_method").set_value("exact").run()
    assert not any("switches to sampling" in i.value for i in at.info)
    assert any("all 2,048 subsets of the 11 features" in c.value.replace("\\", "") for c in at.caption)
    # and, past the dashboard's work limit (WHYLM_MAX_WORK_TOKENS), Run is refused saying what to lower
    assert all("more than the limit" in e and "lower" in e for e in main_errors(at)), main_errors(at)


# ---------------------------------------------------------------- the view


def test_view_draws_a_stored_result_with_escaped_text(tmp_path) -> None:
    from tests.result_samples import FEW_SHOT_RESULT as RESULT

    result = copy.deepcopy(RESULT)
    result["examples"][2]["input"] = "I loved every <b>minute</b>, see [here](http://x)"
    at = draw_stored("ui.few_shot.view", "show_few_shot_result", result, tmp_path)
    hurting = next(w.value for w in at.warning if "Hurting: example 3" in w.value.replace("\\", ""))
    assert "\\<b\\>" in hurting and "\\[here\\]" in hurting  # shown literally, not as HTML or a link
    assert any("Best subset: examples 1 and 2" in m.value.replace("\\", "") for m in at.markdown)
    assert len(at.get("vega_lite_chart")) == 2
    per_example = next(d.value for d in at.table if "example" in d.value.columns)
    assert per_example["example"][2].replace(WORD_JOINER, "") == (  # escaped: a table reads Markdown
        "I loved every \\<b\\>minute\\</b\\>, see \\[here\\](http://x)"
    )


def test_saved_runs_uses_this_view() -> None:
    from ui.few_shot.view import show_few_shot_result
    from ui.shared.kind_views import view_for

    assert view_for("few_shot") is show_few_shot_result
