"""The dashboard under streamlit's AppTest: pages render, presets match the engine, bad input is a sentence."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core.engine
from core.attribution.presets import PRESETS, preset, presets_for
from core.attribution.spec import FAITHFULNESS, parse_spec
from core.errors import Cancelled, WhyLMError
from core.store import RunRepository
from tests.page_support import APP, ROOT, no_exception
from ui.shared.page_table import PAGES
from ui.shared.run_job import RunJob, _work
from ui.shared.spec_form import prompt_from_rows, rows_from_prompt

TIMEOUT = 240


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(page).run()
    return at


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _numbers(at: AppTest):
    """The result view's numbers table (feature, attribution, per output token)."""
    tables = [d.value for d in at.dataframe if "attribution" in d.value.columns]
    assert tables, "the numbers table is missing"
    return tables[0]


def _pages() -> list[str]:
    """The page files the navigation lists (ui.shared.page_table), each checked to exist."""
    listed = [p.path for p in PAGES]
    assert listed and all((ROOT / p).is_file() for p in listed), listed
    return listed


@pytest.mark.parametrize("page", _pages())
def test_every_page_renders(data_dir, page) -> None:
    at = _app(page)
    no_exception(at)
    assert not _errors(at)
    assert at.title, "the page drew nothing"
    # (AppTest in streamlit 1.67 drops the sidebar after switch_page; the sidebar is
    # checked on the start page below and in the browser tests.)


def test_sidebar_shows_model_and_database(data_dir, lm) -> None:
    at = _app()
    assert at.sidebar.radio, "the sidebar's model picker is missing"
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "million parameters" in captions and "CPU" in captions.upper()
    assert "whylm.db" in captions


@pytest.mark.slow
@pytest.mark.parametrize("example", [p.id for p in presets_for("explain")])
def test_explain_presets_match_the_engine(data_dir, lm, example) -> None:
    at = _app()
    at.selectbox(key="ex_preset").set_value(example).run()
    at.button(key="ex_load").click().run()
    no_exception(at)
    at.button(key="ex_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not _errors(at)
    shown = at.session_state["ex_result"]
    spec = preset(example).spec_copy()
    # the form rebuilt the example's spec (as the spec parser normalises it)
    assert parse_spec(shown["spec"]).raw == parse_spec(spec).raw
    expected = core.engine.run(spec, lm=lm)
    table = _numbers(at)
    assert list(table["feature"]) == expected.features
    np.testing.assert_allclose(table["attribution"].to_numpy(), expected.seq_attr, rtol=1e-6, atol=1e-9)
    assert shown["score_all"] == pytest.approx(expected.score_all, rel=1e-6)
    assert at.info, "the one-sentence summary is missing"
    assert any("full prompt" in m.value for m in at.markdown)
    runs = RunRepository().list_runs()
    assert len(runs) == 1 and runs[0].status == "done"


def test_changing_a_display_option_does_not_recompute(data_dir, lm, monkeypatch) -> None:
    calls = []
    real = core.engine.run

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(core.engine, "run", counting)
    at = _app()
    at.button(key="ex_load").click().run()
    at.button(key="ex_run").click().run(timeout=TIMEOUT)
    before = at.session_state["ex_result"]
    at.toggle(key="ex_view_whole").set_value(False).run()
    at.selectbox(key="ex_view_span_to").set_value(2).run()
    no_exception(at)
    assert len(calls) == 1
    assert at.session_state["ex_result"] is before
    assert any("output tokens 1\u20133" in m.value for m in at.markdown)


def test_the_faithfulness_switch_is_drawn_from_its_declaration_and_turns_the_check_off(data_dir, lm) -> None:
    at = _app()
    at.button(key="ex_load").click().run()
    box = at.checkbox(key="ex_faithfulness")
    assert box.value is FAITHFULNESS.default and box.label == FAITHFULNESS.label
    at.button(key="ex_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert at.session_state["ex_result"]["faithfulness"]["sequence"] is not None
    at.checkbox(key="ex_faithfulness").uncheck().run()
    at.button(key="ex_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    shown = at.session_state["ex_result"]
    assert shown.get("faithfulness") is None and shown["spec"]["faithfulness"] is False
    repo = RunRepository()
    saved = [repo.get_run(r.id).spec for r in repo.list_runs()]
    assert sorted(s.get("faithfulness", True) for s in saved) == [False, True]


def test_token_gradient_preset_matches_the_engine(data_dir, lm) -> None:
    example = presets_for("token_gradients")[0]
    at = _app("pages/token_gradients.py")
    at.button(key="tg_load").click().run()
    # fewer steps keep the test short; the form's parameters are what is checked
    at.number_input(key="tg_param_integrated_gradients_steps").set_value(4).run()
    at.button(key="tg_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not _errors(at)
    spec = example.spec_copy()
    spec["method"]["steps"] = 4
    shown = at.session_state["tg_result"]
    assert parse_spec(shown["spec"]).raw == parse_spec(spec).raw
    expected = core.engine.run(spec, lm=lm).to_dict()
    table = _numbers(at)
    np.testing.assert_allclose(
        table["attribution"].to_numpy(), expected["extra"]["token_level"]["seq_attr"], rtol=1e-5, atol=1e-8
    )
    at.radio(key="tg_view_level").set_value("words").run()
    no_exception(at)
    assert at.session_state["tg_result"] is shown


def test_unbalanced_braces_are_a_sentence(data_dir) -> None:
    at = _app()
    at.text_area(key="ex_template").input("{name lives in {city}").run()
    no_exception(at)
    assert any("braces do not balance" in e for e in _errors(at))
    at.button(key="ex_run").click().run()
    no_exception(at)
    assert "ex_result" not in at.session_state


def test_empty_prompt_is_a_sentence(data_dir) -> None:
    at = _app()
    at.radio(key="ex_prompt_kind").set_value("Plain text").run()
    at.text_area(key="ex_text").input("").run()  # the template's prompt, carried over, emptied
    at.radio(key="ex_target_kind").set_value("Text I give").run()
    at.text_area(key="ex_target_text").input(" Paris").run()
    at.button(key="ex_run").click().run()
    no_exception(at)
    assert any("empty" in e.lower() for e in _errors(at))
    at.radio(key="ex_prompt_kind").set_value("Template with slots").run()
    at.text_area(key="ex_template").input("").run()  # the start page's example, emptied
    at.button(key="ex_run").click().run()
    no_exception(at)
    assert any("empty" in e.lower() for e in _errors(at))


def test_unknown_model_is_a_sentence(data_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WHYLM_ANY_MODEL", "1")  # a personal machine: the sidebar takes any folder or id
    # AppTest (streamlit 1.67) drops the sidebar on reruns under st.navigation, so the
    # sidebar's choice is set before the first run.
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["whylm_model_choice"] = "Another model (Hugging Face id or folder)"
    at.session_state["whylm_model_name"] = str(tmp_path / "no" / "such" / "model")
    at.run()
    no_exception(at)
    assert any("model" in e.lower() for e in _errors(at))
    at.button(key="ex_load").click().run()
    at.button(key="ex_run").click().run()
    no_exception(at)
    assert any("is neither a model folder" in e for e in [m.value for m in at.main.error])
    assert "ex_result" not in at.session_state


def test_store_that_cannot_open_still_shows_the_result(tmp_path, monkeypatch, lm) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WHYLM_DATA_DIR", str(blocker / "data"))
    at = _app()
    no_exception(at)
    assert _errors(at), "the sidebar should say the database cannot open"
    at.button(key="ex_load").click().run()
    at.button(key="ex_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert at.session_state["ex_result"]["features"] == ["Dave", "Palm Coast", "FL", "lawyer", "His"]


def test_a_stopped_run_is_saved_as_stopped(data_dir, lm) -> None:
    repo = RunRepository()
    job = RunJob(spec=preset("captum_tutorial").spec_copy(), title="", tags=["t"], save=True)
    job.stop_event.set()
    _work(job, lm, repo, core.engine.run)
    assert job.status == "stopped" and job.result is None
    record = repo.get_run(job.run_id)
    assert record.status == "stopped" and record.error == str(Cancelled())


def test_a_failed_run_is_saved_with_its_sentence(data_dir, lm) -> None:
    repo = RunRepository()

    def broken(spec, **kwargs):
        raise WhyLMError("The target is too long for this model; shorten it.")

    job = RunJob(spec=preset("captum_tutorial").spec_copy(), title="my title", tags=[], save=True)
    _work(job, lm, repo, broken)
    record = repo.get_run(job.run_id)
    assert (record.status, record.error, record.title) == ("failed", job.error, "my title")
    assert "shorten it" in job.error


@pytest.mark.parametrize("example", [p.id for p in PRESETS if "template" in p.spec["prompt"]])
def test_slot_table_round_trips_each_template_example(example) -> None:
    prompt = preset(example).spec["prompt"]
    rebuilt = prompt_from_rows(prompt["template"], rows_from_prompt(prompt))
    assert rebuilt == prompt
