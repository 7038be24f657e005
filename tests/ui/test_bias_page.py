"""The Bias associations page under AppTest: presets load, a small sweep equals the engine, bad input is a sentence."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core.engine
from core.probes.bias.data import bias_presets
from core.probes.bias.spec import parse_bias_spec
from core.store import RunRepository
from tests.page_support import draw_stored, main_errors, no_exception, open_page
from ui.bias.convert import (
    candidates_from_text,
    csv_text,
    rows_from_sweep,
    sweep_from_list_text,
    sweep_from_rows,
    text_from_candidates,
)

TIMEOUT = 240

# The small sweep the page is driven with: 3 names per group x 3 candidates, attribution on.
SMALL_LIST = "group,name,pronoun\nfemale,Mary,She\nfemale,Linda,She\nfemale,Susan,She\nmale,John,He\nmale,James,He\nmale,Robert,He\n"
SMALL = {
    "kind": "bias",
    "model": "default",
    "chat": False,
    "template": "{name} has worked in the same job for ten years. {pronoun} works as a",
    "sweep": {
        "slots": ["name", "pronoun"],
        "groups": {
            "female": [["Mary", "She"], ["Linda", "She"], ["Susan", "She"]],
            "male": [["John", "He"], ["James", "He"], ["Robert", "He"]],
        },
    },
    "values": {},
    "vary": {},
    "candidates": [" nurse", " hairdresser", " carpenter"],
    "compare": ["female", "male"],
    "score": "log_prob",
    "bootstrap": 200,
    "permutations": 200,
    "level": 0.95,
    "seed": 3,
    "attribution": {"enabled": True, "method": "feature_ablation", "trials": 1, "prompts": 2, "params": {}},
}


def _page() -> AppTest:
    return open_page("pages/bias.py", TIMEOUT)


def _group_table(at: AppTest):
    """The group table as the page's data editor shows it."""
    tables = [d.value for d in at.data_editor if "group" in d.value.columns]
    assert tables, "the group table is missing"
    return tables[0]


def _paste(at: AppTest, text: str) -> AppTest:
    at.text_area(key="bi_paste").input(text).run()
    return at.button(key="bi_paste_apply").click().run()


def _fill_small(at: AppTest) -> AppTest:
    """Type the small sweep into the form, the way a person would."""
    _paste(at, SMALL_LIST)
    at.text_area(key="bi_candidates").input("nurse\nhairdresser\ncarpenter").run()
    at.number_input(key="bi_bootstrap").set_value(200).run()
    at.number_input(key="bi_permutations").set_value(200).run()
    at.number_input(key="bi_seed").set_value(3).run()
    at.number_input(key="bi_attr_trials").set_value(1).run()
    at.number_input(key="bi_attr_prompts").set_value(2).run()
    at.text_input(key="bi_title").input("small gender sweep").run()
    return at


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize("name", list(bias_presets()))
def test_group_table_round_trips_each_preset(name) -> None:
    spec = bias_presets()[name]
    slots, rows = rows_from_sweep(spec["sweep"])
    rebuilt = sweep_from_rows(slots, rows)
    assert parse_bias_spec({**spec, "sweep": rebuilt}).groups == parse_bias_spec(spec).groups
    text, spaced = text_from_candidates(spec["candidates"])
    assert candidates_from_text(text, spaced) == spec["candidates"]


def test_tab_separated_paste_and_single_value_column() -> None:
    tabbed = SMALL_LIST.replace(",", "\t")
    assert csv_text(tabbed) == SMALL_LIST
    one = "group,value\nA,France\nA,Spain\nB,Kenya\nB,Ghana\n"
    sweep = sweep_from_list_text(one, ["country"], ["country"])
    assert sweep == {"slots": ["country"], "groups": {"A": ["France", "Spain"], "B": ["Kenya", "Ghana"]}}


# ---------------------------------------------------------------- the page


def test_page_renders_and_presets_load(data_dir) -> None:
    at = _page()
    assert not main_errors(at)
    presets = bias_presets()
    first = presets["gender_occupation"]
    # the first preset is in the form when the page opens
    assert at.text_area(key="bi_template").value == first["template"]
    table = _group_table(at)
    assert list(table.columns) == ["group", "name", "pronoun"]
    assert len(table) == sum(len(v) for v in first["sweep"]["groups"].values())
    assert at.text_area(key="bi_candidates").value.splitlines() == [c.strip() for c in first["candidates"]]
    # load the other preset: its template, list and candidates replace the form
    other = presets["region_adjectives"]
    at.selectbox(key="bi_preset").set_value("region_adjectives").run()
    at.button(key="bi_load").click().run()
    no_exception(at)
    assert not main_errors(at)
    assert at.text_area(key="bi_template").value == other["template"]
    table = _group_table(at)
    assert list(table.columns) == ["group", "country"]
    assert set(table["country"]) == {v for vs in other["sweep"]["groups"].values() for v in vs}
    assert at.text_area(key="bi_candidates").value.splitlines() == [c.strip() for c in other["candidates"]]
    assert (at.selectbox(key="bi_compare_a").value, at.selectbox(key="bi_compare_b").value) == tuple(
        other["compare"]
    )


def test_small_sweep_runs_matches_the_engine_and_is_saved(data_dir, lm) -> None:
    at = _fill_small(_page())
    assert not main_errors(at)
    at.button(key="bi_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not main_errors(at)
    shown = at.session_state["bi_result"]
    # the form built the small spec
    assert parse_bias_spec(shown["spec"]).raw == parse_bias_spec(SMALL).raw
    expected = core.engine.run(copy.deepcopy(SMALL), lm=lm).to_dict()
    tables = [d.value for d in at.dataframe if "gap" in d.value.columns]
    assert tables, "the numbers table is missing"
    table = tables[0]
    by_text = {e["text"].strip(): e for e in expected["candidates"]}
    assert sorted(table["candidate"]) == sorted(by_text)
    for _, row in table.iterrows():
        entry = by_text[row["candidate"]]
        np.testing.assert_allclose(row["gap"], entry["gap"], rtol=1e-9)
        np.testing.assert_allclose([row["gap CI low"], row["gap CI high"]], entry["gap_ci"], rtol=1e-9)
        assert row["p-value"] == pytest.approx(entry["p_value"])
    # ranked by the size of the gap
    assert list(table["candidate"]) == [e["text"].strip() for e in expected["candidates"]]
    # the plain-words summary and the caution are shown
    assert any(expected["summary"][0].split(";")[0][:30] in i.value.replace("\\", "") for i in at.info)
    assert any("What a gap means" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) >= 2  # gap, per-group scores
    # one prompt per group attributed: the slot shares have no interval and say so (issue 22)
    assert any("Slot shares not estimated" in w.value.replace("\\", "") for w in at.warning)
    # saved as a bias run with its title
    runs = RunRepository().list_runs()
    assert [(r.kind, r.status, r.title) for r in runs] == [("bias", "done", "small gender sweep")]
    record = RunRepository().get_run(runs[0].id)
    assert record.result["candidates"][0]["gap"] == shown["candidates"][0]["gap"]
    # a display choice redraws from the stored numbers
    at.radio(key="bi_view_scale").set_value("prob").run()
    no_exception(at)
    assert at.session_state["bi_result"] is shown


def test_bad_inputs_are_sentences(data_dir) -> None:
    at = _page()

    def run_error(expected: str) -> None:
        at.button(key="bi_run").click().run()
        no_exception(at)
        assert any(expected in e for e in main_errors(at)), main_errors(at)
        assert "bi_result" not in at.session_state

    # a group with one value
    _paste(at, "group,name,pronoun\nfemale,Mary,She\nmale,John,He\nmale,James,He\n")
    run_error("has 1 value")
    # duplicate values
    _paste(at, "group,name,pronoun\nfemale,Mary,She\nfemale,Mary,She\nmale,John,He\nmale,James,He\n")
    run_error("twice")
    # an empty candidate list
    _paste(at, SMALL_LIST)
    at.text_area(key="bi_candidates").input("\n  \n").run()
    run_error("candidate list is empty")
    at.text_area(key="bi_candidates").input("nurse\nnurse").run()
    run_error("listed twice")
    at.text_area(key="bi_candidates").input("nurse\nbaker").run()
    # a CSV with the wrong columns: the CSV loader's sentence, the table unchanged
    before = _group_table(at)
    _paste(at, "name,group\nMary,female\nJohn,male\n")
    no_exception(at)
    assert any("first column must be 'group'" in e for e in main_errors(at))
    assert _group_table(at).equals(before)
    # a list whose column is not a slot of the template
    _paste(at, "group,name,job\nf,Mary,cook\nf,Ann,cook\nm,John,cook\nm,Tom,cook\n")
    no_exception(at)
    assert any("no slot {job}" in e for e in main_errors(at))
    # a swept slot removed from the template
    at.text_area(key="bi_template").input("{name} has worked in the same job for ten years as a").run()
    no_exception(at)
    assert any("no slot {pronoun}" in e for e in main_errors(at))
    run_error("no slot {pronoun}")
    # unbalanced braces
    at.text_area(key="bi_template").input("{name has worked").run()
    no_exception(at)
    assert any(e.startswith("Template:") for e in main_errors(at))


def test_view_draws_a_stored_result_with_escaped_text(tmp_path) -> None:
    from tests.result_samples import BIAS_RESULT as RESULT

    result = copy.deepcopy(RESULT)
    result["summary"] = [
        "With <b>female</b> names the model gives ' [nurse](http://x)' 2 times the probability."
    ]
    result["candidates"][0]["text"] = " <script>alert(1)</script>"
    at = draw_stored("ui.bias.view", "show_bias_result", result, tmp_path)
    summary = at.info[0].value  # the lead sentence names the finding: the candidate, escaped
    assert "findings" in summary and "\\<script\\>" in summary  # shown literally, not as HTML
    assert all("<script>" not in m.value for m in at.markdown)
    # gap and per-group scores; the sample attributes too few prompts per group for slot shares, said so
    assert len(at.get("vega_lite_chart")) == 2
    assert any("not estimated" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.table[0].value["Candidate"][0] == "\\<script\\>alert(1)\\</script\\>"  # escaped: a table reads Markdown


def test_saved_runs_uses_this_view() -> None:
    from ui.bias.view import show_bias_result
    from ui.shared.kind_views import view_for

    assert view_for("bias") is show_bias_result


def test_a_template_marks_the_candidates_place(data_dir) -> None:
    """{candidate} in the template is no slot: the page lists the slots without it and says where candidates go;
    a slot after it is refused with the parser's sentence."""
    at = _page()
    at.text_area(key="bi_template").input("{name} worked as a {candidate} for years, said {pronoun}.").run()
    no_exception(at)
    assert any("comes after {candidate}" in e for e in main_errors(at)), main_errors(at)
    at.text_area(key="bi_template").input("{name} is sure that {pronoun} works as a {candidate} at the hospital.").run()
    no_exception(at)
    captions = [c.value for c in at.caption]
    assert any("Slots found: {name}, {pronoun}; the candidates go where {candidate} is." in c.replace("\\", "")
               for c in captions), captions
    assert not [e for e in main_errors(at) if "Template" in e or "candidate" in e], main_errors(at)
