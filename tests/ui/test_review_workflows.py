"""Issue 14 (review workflows a team can rely on): runs keep their identity, input is never changed silently,
every label is shown, bias results read for non-statisticians, text is shown as it was written.

AppTest where it can see the page; the charts' labels are checked in the SVG that Vega draws
under Streamlit's own axis setting (``labelOverlap``), which is what hid them in the page.
"""

from __future__ import annotations

import copy
import re

import pytest
from streamlit.testing.v1 import AppTest

import core.engine
from core.attribution.features import layout_from_text, prompt_tokens_and_coverage, sentence_spans
from core.attribution.presets import preset, presets_for
from core.attribution.spec import parse_spec
from core.attribution.targets import decode_tokens
from core.errors import SpecError
from core.present import charts
from core.present.highlight import highlight_html, legend_html, result_highlight_html
from core.probes.bias import reading
from core.probes.few_shot import charts as few_shot_charts
from core.store import RunRepository
from tests.page_support import APP, draw_stored, main_errors, no_exception, open_page
from tests.result_samples import BIAS_RESULT, FEW_SHOT_RESULT

TIMEOUT = 240
TUTORIAL = preset("captum_tutorial")


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    no_exception(at)
    return at


def _titles() -> list[str]:
    return [r.title for r in reversed(RunRepository().list_runs())]


# ---------------------------------------------------------------- 1 and 3: a ready start page, titles that follow


def test_the_start_page_runs_its_example_as_is_and_titles_follow_the_prompt(data_dir, lm) -> None:
    at = _app()
    # 3: a first visit finds the first worked example loaded, not placeholder text
    assert at.text_area(key="ex_template").value == TUTORIAL.spec["prompt"]["template"]
    assert at.text_input(key="ex_title").value == TUTORIAL.title
    at.button(key="ex_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not main_errors(at)
    assert parse_spec(at.session_state["ex_result"]["spec"]).raw == parse_spec(TUTORIAL.spec_copy()).raw
    # 1: another prompt gets its own title, not the example's
    at.radio(key="ex_prompt_kind").set_value("Plain text").run()
    at.text_area(key="ex_text").input("The capital of France is").run()
    assert at.text_input(key="ex_title").value == "The capital of France is"
    at.text_area(key="ex_target_text").input(" Paris").run()
    at.button(key="ex_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not main_errors(at)
    assert _titles() == [TUTORIAL.title, "The capital of France is"]
    # a typed title stays when the prompt changes; emptied, the box follows the prompt again
    at.text_input(key="ex_title").input("France check").run()
    at.text_area(key="ex_text").input("The capital of Italy is").run()
    assert at.text_input(key="ex_title").value == "France check"
    at.text_input(key="ex_title").input("").run()
    assert at.text_input(key="ex_title").value == "The capital of Italy is"
    # back on the example: its title again
    at.button(key="ex_load").click().run()
    assert at.text_input(key="ex_title").value == TUTORIAL.title


def test_the_token_gradients_page_also_starts_ready(data_dir) -> None:
    at = open_page("pages/token_gradients.py", TIMEOUT)
    example = presets_for("token_gradients")[0]
    assert at.text_area(key="tg_text").value == example.spec["prompt"]["text"]
    assert at.text_input(key="tg_title").value == example.title
    assert not main_errors(at)


# ---------------------------------------------------------------- 2: an empty slot is refused, by name


def test_an_empty_slot_value_is_refused_by_the_engine_with_its_name(lm) -> None:
    spec = {
        "kind": "attribution",
        "model": "default",
        "prompt": {"template": "{name} works as a {job}. She is", "values": {"name": "Maria", "job": " "}},
        "target": {"text": " kind"},
        "method": {"name": "feature_ablation"},
    }
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert info.value.field == "prompt.values.job" and "{job} is empty" in str(info.value)
    with pytest.raises(SpecError, match=r"\{job\} is empty"):
        core.engine.run(spec, lm=lm)
    positional = {**spec, "prompt": {"template": "{} works as a {}.", "values": ["Maria", ""]}}
    with pytest.raises(SpecError, match="slot 2"):
        parse_spec(positional)


def test_an_empty_slot_value_is_refused_by_the_page_with_its_name(data_dir) -> None:
    at = _app()
    at.text_area(key="ex_template").input("{name} works as a {job}. She is").run()
    no_exception(at)
    rows = {slot: {"slot": slot, "value": "", "baseline": "", "alternatives": "", "group": ""} for slot in ("name", "job")}
    rows["name"]["value"] = "Maria"
    at.session_state["ex_slot_rows"] = rows
    at.session_state["ex_slot_version"] = at.session_state["ex_slot_version"] + 1
    at.run()
    warnings = " ".join(w.value for w in at.main.warning)
    assert "{job}" in warnings.replace("\\", "") and "{name}" not in warnings.replace("\\", "")
    at.button(key="ex_run").click().run()
    no_exception(at)
    assert any("slot {job} is empty" in e for e in main_errors(at)), main_errors(at)
    assert "ex_result" not in at.session_state


# ---------------------------------------------------------------- 9: what is shown is what runs


def test_out_of_range_numbers_stay_shown_get_a_sentence_and_do_not_run(data_dir) -> None:
    at = _app()
    for value, words in [(-3, "at least 1"), (100000, "at most")]:
        at.number_input(key="ex_trials").set_value(value).run()
        no_exception(at)
        assert at.number_input(key="ex_trials").value == value  # shown as typed, not replaced
        assert any(e.startswith("Trials:") and words in e for e in main_errors(at)), main_errors(at)
        at.button(key="ex_run").click().run()
        assert "ex_result" not in at.session_state
        assert any(words in e for e in main_errors(at))
    # the browser gets no bounds of its own (it would keep showing a value it does not send)
    box = at.number_input(key="ex_trials")
    assert box.min is None and box.max is None


def test_a_number_box_left_without_a_number_changes_no_other_box(data_dir) -> None:
    at = open_page("pages/bias.py", TIMEOUT)
    permutations = at.number_input(key="bi_permutations").value
    # letters in a number box reach the page as "no number" (the browser cannot read them)
    at.number_input(key="bi_bootstrap").set_value(None).run()
    no_exception(at)
    assert at.number_input(key="bi_bootstrap").value is None
    assert at.number_input(key="bi_permutations").value == permutations
    assert any("Bootstrap resamples: write a whole number" in e for e in main_errors(at)), main_errors(at)
    at.button(key="bi_run").click().run()
    assert "bi_result" not in at.session_state


# ---------------------------------------------------------------- 7: every label is drawn


def _svg_texts(chart, width: int) -> str:
    """The chart drawn as the page draws it: Streamlit's theme hides crowded labels unless the chart says no."""
    import vl_convert

    spec = charts._fixed_width(chart.configure_axis(labelOverlap=True).to_dict(), width)
    return vl_convert.vegalite_to_svg(spec)


def _attribution_result(n_features: int, n_tokens: int) -> dict:
    features = [f"word{j:02d}" for j in range(n_features)]
    return {
        "kind": "attribution",
        "features": features,
        "output_tokens": [f" out{i}" for i in range(n_tokens)],
        "seq_attr": [0.1 * (j - n_features / 2) for j in range(n_features)],
        "token_attr": [[0.01 * (i + j) for j in range(n_features)] for i in range(n_tokens)],
    }


@pytest.mark.parametrize("n_features", [5, 27])
def test_the_heatmap_labels_every_feature_in_the_page(n_features: int) -> None:
    result = _attribution_result(n_features, 4)
    svg = _svg_texts(charts.token_heatmap(result), 560)
    missing = [f for f in result["features"] if f">{f}<" not in svg]
    assert not missing, f"{len(missing)} of {n_features} feature labels dropped"
    assert all(f">{label}<" in svg for label in charts.output_labels(result))


def test_the_few_shot_heatmap_labels_every_example() -> None:
    chart = few_shot_charts.query_example_heatmap(FEW_SHOT_RESULT)
    svg = _svg_texts(chart, 220)
    columns = [few_shot_charts.column_label(entry) for _, entry in few_shot_charts.feature_entries(FEW_SHOT_RESULT)]
    for label in columns:
        shown = re.escape(label[:8])
        assert re.search(rf">{shown}", svg), f"example label {label!r} dropped"


def test_the_output_token_span_names_each_token_once(tmp_path) -> None:
    result = _attribution_result(3, 4)
    result.update(
        {
            "spec": {"kind": "attribution", "method": {"name": "feature_ablation"}, "score": "log_prob"},
            "score_all": -3.0,
            "score_none": -5.0,
            "token_score_all": [-1.0] * 4,
            "token_score_none": [-2.0] * 4,
            "prompt_tokens": ["word00", " word01", " word02"],
            "feature_tokens": [[0], [1], [2]],
            "target": {"text": " out0 out1 out2 out3", "generated": False},
        }
    )
    at = draw_stored("ui.explain.view", "show_result", result, tmp_path)
    at.toggle(key="t_whole").set_value(False).run()
    no_exception(at)
    first, last = at.selectbox(key="t_span_from"), at.selectbox(key="t_span_to")
    assert first.value == last.value == 0
    assert list(first.options) == ["1:  out0", "2:  out1", "3:  out2", "4:  out3"]
    last.set_value(2).run()
    assert any("output tokens 1\u20133" in m.value for m in at.markdown)


# ---------------------------------------------------------------- 8: bias results for non-statisticians


def _bias(**changes) -> dict:
    result = copy.deepcopy(BIAS_RESULT)
    for index, fields in changes.items():
        result["candidates"][int(index[1:])].update(fields)
    return result


def test_the_bias_reading_marks_findings_and_never_states_noise_or_absurd_ratios() -> None:
    # nurse: Holm p 0.03, interval 1.5 to 2.5 -> a finding; mechanic: Holm p 0.06 -> not; baker crosses zero
    result = _bias(c0={"prob_ratio": 2.7e23, "prob_ratio_ci": [1.5e20, 3e25]}, c2={"prob_ratio": 1.22, "p_holm": 1.0})
    lines = reading.reading_lines(result)
    assert lines[0].startswith("1 of 4 candidates are findings: with female names it favours \u2018nurse\u2019")
    # two names per group and four candidates: the design's floor is said second (issue 22)
    assert lines[1].startswith("With 2 names per group and 4 candidates")
    assert lines[2].startswith("Finding: \u2018nurse\u2019 is more likely with female names")
    assert "more than 1,000 times" in lines[2] and "272" not in " ".join(lines)
    # mechanic's interval is off zero, but no corrected p of this design can be below 0.05
    assert lines[3].startswith("Likely, add values: \u2018mechanic\u2019 is more likely with male names")
    assert lines[-1].startswith("No evidence: the data cannot tell whether \u2018baker\u2019 and \u2018void\u2019")
    assert "1.22" not in " ".join(lines)  # a ratio that is no finding is not stated
    assert reading.verdict(result, result["candidates"][1]) == "likely, add values: more likely with male names"
    assert reading.verdict(result, result["candidates"][2]) == "no evidence"
    nothing = _bias(c0={"p_holm": 0.2})  # no finding; this design cannot reach one, and mechanic is likely
    lead = reading.lead_sentence(nothing)
    assert lead.startswith("No finding yet, because this design cannot reach significance")
    assert "likely, add values" in lead and "noise" not in lead


def test_the_bias_view_leads_with_the_reading_and_keeps_the_statistics_one_click_away(tmp_path) -> None:
    at = draw_stored("ui.bias.view", "show_bias_result", BIAS_RESULT, tmp_path)
    assert at.info[0].value.replace("\\", "") == reading.lead_sentence(BIAS_RESULT)
    text = (" ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)).replace("\\", "")
    assert "Finding:" in text and "No evidence:" in text and "Likely, add values:" in text
    assert "log-probabilitys" not in text
    first = at.table[0].value  # drawn whole: every column in view at 1000 px
    assert list(first.columns) == ["Candidate", "Verdict", "Gap", "Interval", "Corrected p"]
    assert list(first["Verdict"])[:3] == [
        "finding: more likely with female names",
        "likely, add values: more likely with male names",
        "no evidence",
    ]
    full = [d.value for d in at.expander[0].dataframe]
    assert full and {"Holm p-value", "p-value", "effect size (d)"} <= set(full[0].columns)
    columns = list(full[0].columns)
    assert columns.index("Holm p-value") < columns.index("female: mean")  # p-values before the per-group means


# ---------------------------------------------------------------- 12: text as it was written


def test_sentences_split_where_a_reader_would() -> None:
    text = "Dr. Smith lives on Main St. in town. He moved to the U.S. in May, e.g. for work. 今日は晴れ。明日は雨！"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Dr. Smith lives on Main St. in town.",
        "He moved to the U.S. in May, e.g. for work.",
        "今日は晴れ。",
        "明日は雨！",
    ]
    layout = layout_from_text(text, "sentence")
    assert layout.render([True] * len(layout.features), {}) == text


def test_emoji_and_cjk_tokens_read_as_written(lm) -> None:
    text = "I love 🙂 and 東京 coffee ☕"
    layout = layout_from_text(text, "word")
    tokens, coverage, _ = prompt_tokens_and_coverage(layout, lm.tokenizer)
    assert "".join(tokens) == text and not any("\ufffd" in t for t in tokens)
    ids = lm.tokenizer(" 🙂 東京", add_special_tokens=False)["input_ids"]
    assert len(ids) > 3  # byte pieces: decoding one at a time would show "\ufffd"
    assert "".join(decode_tokens(lm.tokenizer, ids)) == " 🙂 東京"
    assert not any("\ufffd" in t for t in decode_tokens(lm.tokenizer, ids))


def test_the_coloured_prompt_of_a_chat_run_shows_no_chat_markers(lm) -> None:
    spec = {
        "kind": "attribution",
        "model": "default",
        "prompt": {"text": "Name a fruit 🍎.", "granularity": "word"},
        "chat": True,
        "target": {"text": "Apple"},
        "method": {"name": "feature_ablation"},
    }
    result = core.engine.run(spec, lm=lm).to_dict()
    assert any("<|im_start|>" in t for t in result["prompt_tokens"])  # the model did read its chat template
    markup = result_highlight_html(result)
    assert "im_start" not in markup and "im_end" not in markup and "Chat mode" in markup
    assert "🍎" in markup and "fruit" in markup


# ---------------------------------------------------------------- 13: readable in the dark theme


def test_the_highlighted_prompt_takes_the_page_text_colour() -> None:
    markup = highlight_html(["a", " b", " c"], [[0], [1]], [2.0, -0.1], ["a", "b"]) + legend_html()
    assert "#111" not in markup and "#555" not in markup and "#888" not in markup
    assert "color:inherit" in markup  # a weak token keeps the theme's text colour


# ---------------------------------------------------------------- 11: an example whose integrated gradients converge


@pytest.mark.slow
def test_the_token_gradients_example_converges(lm) -> None:
    result = core.engine.run(presets_for("token_gradients")[0].spec_copy(), lm=lm).to_dict()
    sequence = result["extra"]["completeness"]["sequence"]
    assert abs(sequence["relative"]) < 0.05, sequence


# ---------------------------------------------------------------- 4: links that open what was shown


def _saved_page(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    at.switch_page("pages/saved_runs.py").run()
    no_exception(at)
    return at


@pytest.mark.slow
def test_links_open_a_run_a_comparison_and_a_form(data_dir, lm) -> None:
    from tests.saved_runs_support import save_three

    repo = RunRepository()
    ida, idb, _ = save_three(repo, lm)
    at = _saved_page(run=str(idb))
    assert at.multiselect(key="sr_pick").value == [idb]
    assert any(s.value.startswith(f"Run {idb}:") for s in at.subheader)
    # a run of the start page (Explain a prompt) links by its full address, which a new tab opens too
    links = {link.proto.label: link.proto.url for link in at.get("link_button")}
    assert {"Open in its page", "Run again"} <= set(links)
    assert links["Run again"].endswith(f"?from_run={idb}&then=run")
    # 13: Tags, Status and Notes come right after the title; the manage panel stays open after an action
    table = next(d.value for d in at.dataframe if "notes" in d.value.columns)
    assert list(table.columns)[:5] == ["run", "title", "tags", "status", "notes"]
    at.text_input(key=f"sr_title_{idb}").input("Renamed run").run()
    next(b for b in at.button if b.key == f"sr_rename_{idb}").click().run()
    assert repo.get_run(idb).title == "Renamed run"
    panel = next(e for e in at.expander if e.label == "Rename, tag or delete this run")
    assert panel.proto.expanded
    from core.present.report import report_html

    html = report_html([repo.get_run(ida)], title="r")
    assert html.count("<table") == html.count('<div class="table-wrap"><table')  # wide tables scroll in a box
    # the address bar follows what is picked
    at.multiselect(key="sr_pick").set_value([ida, idb]).run()
    assert at.query_params.get("compare") in (f"{ida},{idb}", [f"{ida},{idb}"])
    at = _saved_page(compare=f"{ida},{idb}")
    assert at.multiselect(key="sr_pick").value == [ida, idb]
    # a page's form restored from a run, its stored result shown
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["from_run"] = str(idb)
    at.run()
    no_exception(at)
    record = repo.get_run(idb)
    assert at.text_area(key="ex_template").value == record.spec["prompt"]["template"]
    assert at.text_input(key="ex_title").value == "Renamed run"
    assert at.session_state["ex_result"] == record.result


# ---------------------------------------------------------------- 6: comparisons that line up


def test_words_and_tokens_of_one_prompt_line_up_and_rank_agreement_is_said(lm) -> None:
    from core.present.compare import ComparedRun, compare_runs, rank_agreement, small_multiples

    text = "The doctor said the nurse was late"
    words = {"kind": "attribution", "model": "default", "prompt": {"text": text, "granularity": "word"},
             "target": {"text": " again"}, "method": {"name": "feature_ablation"}}
    tokens = {**words, "method": {"name": "saliency", "signed": True}}
    a, b = core.engine.run(words, lm=lm).to_dict(), core.engine.run(tokens, lm=lm).to_dict()
    assert " doctor" in b["features"] and "doctor" in a["features"]  # a token keeps its space, a word does not
    comparison = compare_runs([ComparedRun(1, "words", a), ComparedRun(2, "tokens", b)])
    assert comparison.labels == ("The", "doctor", "said", "the", "nurse", "was", "late")
    assert not any(comparison.missing.values())
    ((_, _, rho),) = rank_agreement(comparison)
    assert -1.0 <= rho <= 1.0
    other = {**words, "prompt": {"text": "Paris is lovely", "granularity": "word"}}
    c = core.engine.run(other, lm=lm).to_dict()
    pictures = small_multiples([ComparedRun(1, "words", a), ComparedRun(3, "other", c)])
    assert len(pictures) == 2  # each run's own picture even when nothing lines up
    domains = [p.to_dict()["layer"][0]["encoding"]["x"]["scale"]["domain"] for p in pictures]
    assert domains[0] == domains[1]  # one scale


# ---------------------------------------------------------------- 5 and 10: a run survives a reload; honest waiting


def test_a_reloaded_page_reattaches_to_its_running_job(data_dir, lm) -> None:
    import threading
    import time

    from tests.saved_runs_support import other_values_spec
    from ui.shared.run_job import RunJob, _register

    spec = other_values_spec()
    result = core.engine.run(copy.deepcopy(spec), lm=lm).to_dict()
    job = RunJob(spec=spec, title="Reload me", tags=[], save=False)

    def work() -> None:
        time.sleep(1.5)
        job.result, job.status = result, "done"

    job.thread = threading.Thread(target=work, daemon=True)
    job.thread.start()
    _register(job)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["job"] = job.job_id  # the address bar of the page that started it
    at.run()
    no_exception(at)
    assert at.text_area(key="ex_template").value == spec["prompt"]["template"]  # the form is back
    assert at.text_input(key="ex_title").value == "Reload me"
    assert at.session_state["ex_result"] == result  # followed to its end, then shown
    assert "job" not in at.query_params


def test_time_left_never_grows_without_saying_so() -> None:
    import time

    from ui.shared.run_job import RunJob

    job = RunJob(spec={}, title="", tags=[], save=False)
    job.done, job.total = 50, 100
    job.first_progress = time.monotonic() - 10
    assert job.eta_words() == ", about 10 s left"
    job.first_progress = time.monotonic() - 30  # the pace dropped (another run took turns)
    assert job.eta_words() == ", re-estimating: about 30 s left"
    assert job.eta_words() == ", about 30 s left"


def test_a_run_that_is_not_yet_asking_for_the_model_says_it_waits_for_another() -> None:
    import threading
    import time

    from core.models.sharing import ModelShare
    from ui.shared.run_job import RunJob, _progress_text

    share = ModelShare()
    release = threading.Event()

    def run_beside() -> None:
        with share.job():
            release.wait(20)

    others = [threading.Thread(target=run_beside, daemon=True) for _ in range(2)]
    for thread in others:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while share.runs() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        job = RunJob(spec={}, title="", tags=[], save=False, share=share)
        job.thread = others[1]  # this tab's run: registered, between turns, nothing counted yet
        assert _progress_text(job)[1].startswith("Waiting for another run: 1 other run using the model now")
    finally:
        release.set()
