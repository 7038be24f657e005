"""Issue 22, point 9: the small things that cost trust, each with a test."""

from __future__ import annotations

import copy
from pathlib import Path

from core.text import ordinal, unique_labels
from tests.page_support import draw_stored
from tests.result_samples import COMPARE_RESULT
from ui.shared.markdown import WORD_JOINER


def _result(**changes: object) -> dict:
    result = copy.deepcopy(COMPARE_RESULT["results"][0])
    result.update(changes)
    return result


def test_a_generated_output_shows_its_line_breaks_not_a_literal_backslash_n(tmp_path) -> None:
    result = _result(target={"text": "\n\nThe capital is\n\nParis.", "generated": True})
    at = draw_stored("ui.explain.view", "show_result", result, tmp_path)
    [line] = [m.value for m in at.markdown if m.value.startswith("**Generated output:**")]
    assert "\\n" not in line and "The capital is" in line and "Paris" in line
    assert "is  \n" in line and "\nParis" in line  # line breaks drawn as breaks


def test_repeated_words_say_which_occurrence_they_are() -> None:
    assert unique_labels(["was", "it", "was", "was"]) == ["was", "it", "was (2nd)", "was (3rd)"]
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"
    ]


def test_integrated_gradients_says_to_how_many_steps_to_raise(tmp_path) -> None:
    result = _result(
        spec={"kind": "attribution", "method": {"name": "integrated_gradients", "steps": 24}, "score": "log_prob"},
        extra={"completeness": {"sequence": {"relative": 0.4, "difference": 2.0, "gap": 0.8}}},
    )
    at = draw_stored("ui.explain.view", "show_result", result, tmp_path)
    [warning] = [w.value for w in at.warning if "large miss" in w.value]
    assert "Raise Steps from 24 to about 192" in warning  # 24 x 40% / 5%
    result["spec"]["method"]["steps"] = 200
    at = draw_stored("ui.explain.view", "show_result", result, tmp_path)
    [warning] = [w.value.replace("\\", "") for w in at.warning if "large miss" in w.value]
    assert "Even the most steps (1,000, now 200)" in warning


def test_a_saved_comparison_opens_on_explain_without_a_key_error(data_dir) -> None:
    from streamlit.testing.v1 import AppTest

    from core.attribution.presets import preset
    from core.store import RunRepository
    from tests.page_support import APP, main_errors, no_exception

    spec = {k: v for k, v in preset("captum_tutorial").spec_copy().items() if k != "method"}
    spec.update(kind="compare", methods=[{"name": "input_x_gradient"}, {"name": "shapley"}, "lime"])
    run_id = RunRepository().save_run("compare", "Three methods", spec, copy.deepcopy(COMPARE_RESULT))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["from_run"] = str(run_id)
    at.run()
    no_exception(at)
    assert not main_errors(at), main_errors(at)  # was: "Run 1's spec does not fit this page's form (KeyError)"
    assert at.text_input(key="ex_title").value == "Three methods"
    assert at.session_state["ex_method"] == "shapley"  # the first method the form offers
    assert at.multiselect(key="cmp_methods").value == ["input_x_gradient", "shapley", "lime"]
    assert at.session_state["cmp_result"]["kind"] == "compare"  # shown under Compare methods


def test_switching_the_tutorial_to_plain_text_keeps_its_prompt_and_title_follows_it(data_dir) -> None:
    from tests.page_support import open_page

    at = open_page("pages/explain.py", 120)  # the tutorial is loaded
    target = at.text_area(key="ex_target_text").value if "ex_target_text" in at.session_state else None
    at.radio(key="ex_prompt_kind").set_value("Plain text").run()
    text = at.text_area(key="ex_text").value
    assert text.strip() and "{" not in text  # the template's prompt, filled in: the output still follows it
    title = at.text_input(key="ex_title").value
    assert "run on default" not in title and title
    if target is not None:
        assert at.text_area(key="ex_target_text").value == target
    at.text_area(key="ex_text").set_value("").run()  # an empty prompt: no made-up title
    assert at.text_input(key="ex_title").value == ""


def test_chat_mode_from_an_example_says_so_and_stops_saying_once_set_by_hand(data_dir) -> None:
    from tests.page_support import open_page

    at = open_page("pages/explain.py", 120)
    at.selectbox(key="ex_preset").set_value("chat_hobby").run()
    at.button(key="ex_load").click().run()
    assert at.checkbox(key="ex_chat").value is True
    said = [c.value for c in at.main.caption if c.value.startswith("Chat mode is on")]
    assert said and "example" in said[0], [c.value for c in at.main.caption]
    at.checkbox(key="ex_chat").uncheck().run()
    at.checkbox(key="ex_chat").check().run()  # set by hand now: nothing to explain
    assert not [c.value for c in at.main.caption if c.value.startswith("Chat mode is on")]


def test_reopening_a_run_keeps_its_title_and_tags(data_dir, lm) -> None:
    from streamlit.testing.v1 import AppTest

    import core.engine
    from core.attribution.presets import preset
    from core.runs.saved import save_run
    from core.store import RunRepository
    from tests.page_support import APP, no_exception

    spec = preset("captum_tutorial").spec_copy()
    result = core.engine.run(copy.deepcopy(spec), lm=lm)
    run_id = save_run(RunRepository(), spec, result, title="Team study, round 2", tags=["team", "round-2"])
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["from_run"] = str(run_id)
    at.run()
    no_exception(at)
    assert at.text_input(key="ex_title").value == "Team study, round 2"
    assert at.text_input(key="ex_tags").value == "round-2, team"
    at.run()  # and they stay on the next script run
    assert at.text_input(key="ex_tags").value == "round-2, team"
    assert at.text_input(key="ex_title").value == "Team study, round 2"


def test_an_opened_run_offers_its_link_to_copy(data_dir) -> None:
    from streamlit.testing.v1 import AppTest

    from core.attribution.presets import preset
    from core.store import RunRepository
    from tests.page_support import APP, no_exception

    run_id = RunRepository().save_run("attribution", "Linked", preset("captum_tutorial").spec_copy(), _result())
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.query_params["run"] = str(run_id)
    at.switch_page("pages/saved_runs.py").run()
    no_exception(at)
    [link] = [c.value for c in at.main.code if "run=" in c.value]
    assert link.endswith(f"?run={run_id}")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "?run=" in readme and "Copy link" in readme  # the README says how to share a run


def test_the_faithfulness_legend_draws_two_different_theme_safe_lines() -> None:
    from core.present.trust import faithfulness_chart, faithfulness_of
    from tests.present.test_trust_views import _checked_result

    chart = faithfulness_chart(faithfulness_of(_checked_result())).to_dict()
    dash = chart["encoding"]["strokeDash"]
    legend = dash["legend"]
    assert legend["symbolType"] == "stroke"  # a line per entry, not the same dot
    assert legend["symbolStrokeColor"].lower() not in ("black", "#000", "#000000", "white", "#fff", "#ffffff")
    solid, dashed = dash["scale"]["range"]
    assert solid != dashed


def _hostile_table() -> None:
    """AppTest script: a whole table whose cells hold a file's or a model's text."""
    import pandas as pd

    from ui.shared.tables import whole_table

    whole_table(pd.DataFrame({"text": ["[click](http://evil.example)", "$x^2$ and <b>bold</b>", "plain, words."],
                              "value": [1.0, 2.0, 3.0]}), {"value": "%.1f"})


def test_every_whole_tables_text_is_escaped_for_markdown() -> None:
    """A static table reads its cells as Markdown: a bias candidate, a study's row or a document's sentence
    must never become a link, a formula or HTML, on any page (ui.shared.tables.whole_table)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_hostile_table).run()
    cells = [str(v) for v in at.table[0].value["text"]]
    assert cells[0].replace(WORD_JOINER, "") == "\\[click\\](http://evil.example)"  # joiner: no ":x" code
    assert cells[1] == "\\$x^2\\$ and \\<b\\>bold\\</b\\>"
    assert cells[2] == "plain, words."
