"""The Saved runs page under streamlit's AppTest, over real runs saved through the repository."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pytest
from alembic import command
from streamlit.testing.v1 import AppTest

import core.engine
import ui.saved_runs.exchange
from core.store import RunRepository
from core.store.database import alembic_config, create_store_engine, dispose_engines
from tests.page_support import no_exception, open_page
from tests.saved_runs_support import real_results, save_three

PAGE = "pages/saved_runs.py"
TIMEOUT = 120


@pytest.fixture(scope="module")
def results(lm):
    """(tutorial, other baselines, other values): real feature-ablation results."""
    return real_results(lm)


@pytest.fixture()
def saved(data_dir, lm, results) -> tuple[RunRepository, tuple[int, int, int]]:
    """The three real runs saved in the fresh database."""
    repo = RunRepository()
    return repo, save_three(repo, lm)


@pytest.fixture()
def no_engine(monkeypatch):
    """Fail loudly if anything on the page recomputes a run."""

    def refuse(*args, **kwargs):
        raise AssertionError("the Saved runs page must not recompute runs")

    monkeypatch.setattr(core.engine, "run", refuse)


def _page() -> AppTest:
    return open_page(PAGE, TIMEOUT)


def _pick(at: AppTest, ids) -> AppTest:
    at.multiselect(key="sr_pick").set_value(list(ids)).run()
    no_exception(at)
    return at


def _table(at: AppTest, column: str):
    """The first table on the page (a scrolling grid or one drawn whole) that has ``column``."""
    frames = [d.value for d in [*at.dataframe, *at.table] if column in d.value.columns]
    assert frames, f"no table with a {column!r} column"
    return frames[0]


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def _button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return found[0]


def _texts(elements) -> str:
    return " ".join(e.value for e in elements).replace("\\", "")


@pytest.mark.slow
def test_page_lists_every_saved_run(saved, no_engine) -> None:
    repo, ids = saved
    at = _page()
    assert at.title[0].value == "Saved runs"
    assert not at.error
    table = _table(at, "run")
    assert sorted(table["run"]) == sorted(ids)
    assert set(table["title"]) == {"Tutorial ablation", "Tutorial with other baselines", "Paris doctor variant"}
    assert set(table["page"]) == {"Explain a prompt"}
    assert not at.get("vega_lite_chart"), "nothing is opened before a run is picked"


def test_empty_store_says_how_runs_arrive(data_dir) -> None:
    at = _page()
    assert "No runs are saved yet" in _texts(at.info)
    assert at.file_uploader, "importing is possible from an empty store"


def test_filters_narrow_the_table(saved, no_engine) -> None:
    repo, (ida, idb, idc) = saved
    a = repo.get_run(ida).result
    old = repo.save_run("attribution", "An old run", a["spec"], a, tags=["archive"],
                        created_at=datetime(2024, 3, 5, 12, 0, tzinfo=UTC))
    at = _page()
    at.selectbox(key="sr_f_tag").set_value("tutorial").run()
    assert sorted(_table(at, "run")["run"]) == sorted([ida, idb])
    at.selectbox(key="sr_f_tag").set_value("All").run()
    at.text_input(key="sr_f_text").input("PARIS").run()
    assert list(_table(at, "run")["run"]) == [idc]
    at.text_input(key="sr_f_text").input("").run()
    at.date_input(key="sr_f_dates").set_value((date(2024, 3, 1), date(2024, 3, 31))).run()
    assert list(_table(at, "run")["run"]) == [old]
    at.date_input(key="sr_f_dates").set_value(()).run()
    at.selectbox(key="sr_f_page").set_value("Explain a prompt").run()
    assert len(_table(at, "run")) == 4
    at.selectbox(key="sr_f_method").set_value("feature_ablation").run()
    assert len(_table(at, "run")) == 4
    at.text_input(key="sr_f_text").input("no such title").run()
    no_exception(at)
    assert "No saved run matches" in _texts(at.info)


def test_opening_a_run_draws_its_stored_charts(saved, results, no_engine) -> None:
    repo, (ida, _, _) = saved
    at = _pick(_page(), [ida])
    stored = repo.get_run(ida).result
    charts = _charts(at)
    faithful = 1 if stored.get("faithfulness") else 0
    assert len(charts) == 2 + faithful, "bar chart and heatmap (and the faithfulness curves, when saved)"
    numbers = _table(at, "attribution")
    assert list(numbers["feature"]) == stored["features"] == results[0]["features"]
    np.testing.assert_allclose(numbers["attribution"].to_numpy(), results[0]["seq_attr"], rtol=0, atol=0)
    summary = _texts(at.info)
    best = stored["features"][int(np.argmax(stored["seq_attr"]))]
    assert f"‘{best}’ pushed the model most toward this output" in summary
    assert any(s.value.startswith(f"Run {ida}") for s in at.subheader)
    assert at.json, "the run specification is shown"


def test_comparing_two_comparable_runs(saved, results, no_engine) -> None:
    _, (ida, idb, _) = saved
    at = _pick(_page(), [ida, idb])
    assert not at.warning, _texts(at.warning)
    assert len(_charts(at)) == 2 + 2, "each run's own picture, then grouped bars and the difference"
    assert "rank the features" in _texts(at.info), "runs of one prompt get their rank agreement"
    table = _table(at, f"Run {idb} − Run {ida}")
    a, b, _ = results
    assert list(table["feature"]) == a["features"]
    np.testing.assert_allclose(table[f"Run {ida}"], a["seq_attr"])
    np.testing.assert_allclose(table[f"Run {idb}"], b["seq_attr"])
    np.testing.assert_allclose(table[f"Run {idb} − Run {ida}"], np.subtract(b["seq_attr"], a["seq_attr"]))


def test_comparing_runs_with_other_features_warns_and_aligns_shared_labels(saved, no_engine) -> None:
    _, (ida, idb, idc) = saved
    at = _pick(_page(), [ida, idc])
    warning = _texts(at.warning)
    assert "not comparable" in warning
    assert f"Run {ida} lacks ‘Paris’, ‘doctor’" in warning
    assert f"Run {idc} lacks ‘Palm Coast’, ‘lawyer’" in warning
    assert list(_table(at, f"Run {idc}")["feature"]) == ["Dave", "FL", "His"]
    at = _pick(at, [ida, idb, idc])
    assert "not comparable" in _texts(at.warning)
    assert len(_charts(at)) == 3 + 1, "three runs: each run's own picture, then grouped bars only"


def test_a_review_note_is_shown_and_stored(saved, no_engine) -> None:
    repo, (ida, _, _) = saved
    at = _pick(_page(), [ida])
    at.text_input(key=f"sr_note_author_{ida}").input("Ada")
    at.radio(key=f"sr_note_verdict_{ida}").set_value("concern")
    at.text_area(key=f"sr_note_text_{ida}").input("Gendered pronoun matters <b>a lot</b>")
    _button(at, "Add note").click().run()
    no_exception(at)
    notes = repo.notes(ida)
    assert [(n.author, n.verdict, n.text) for n in notes] == [("Ada", "concern", "Gendered pronoun matters <b>a lot</b>")]
    shown = _table(at, "verdict")
    assert list(shown["author"]) == ["Ada"] and list(shown["note"]) == [notes[0].text]
    assert "Note added" in _texts(at.success)


def test_rename_and_tags(saved, no_engine) -> None:
    repo, (ida, _, _) = saved
    at = _pick(_page(), [ida])
    at.text_input(key=f"sr_title_{ida}").input("Renamed run")
    _button(at, "Rename").click().run()
    no_exception(at)
    assert repo.get_run(ida).title == "Renamed run"
    assert "Renamed run" in list(_table(at, "run")["title"])
    at.text_input(key=f"sr_tags_{ida}").input("reviewed, golf , ")
    _button(at, "Save tags").click().run()
    no_exception(at)
    assert repo.get_run(ida).tags == ("golf", "reviewed")
    at.text_input(key=f"sr_title_{ida}").input("   ")
    _button(at, "Rename").click().run()
    no_exception(at)
    assert at.error and repo.get_run(ida).title == "Renamed run"


def test_delete_needs_a_confirmation(saved, no_engine) -> None:
    repo, (ida, idb, _) = saved
    at = _pick(_page(), [ida])
    _button(at, "Delete this run…").click().run()
    no_exception(at)
    assert repo.count() == 3, "the first click only asks"
    _button(at, "Cancel").click().run()
    assert repo.count() == 3
    _button(at, "Delete this run…").click().run()
    _button(at, f"Yes, delete run {ida}").click().run()
    no_exception(at)
    assert ida not in [r.id for r in repo.list_runs()] and repo.count() == 2
    assert ida not in list(_table(at, "run")["run"])
    assert f"Run {ida} and its notes were deleted" in _texts(at.success)
    assert at.multiselect(key="sr_pick").value == []


def test_json_export_reimports_to_equal_runs(saved, monkeypatch, tmp_path, no_engine) -> None:
    repo, (ida, idb, _) = saved
    repo.add_note(ida, "Ada", "ok", "fine")
    offered: list[str] = []
    real = ui.saved_runs.exchange.export_json_text

    def spy(records):
        offered.append(real(records))
        return offered[-1]

    monkeypatch.setattr(ui.saved_runs.exchange, "export_json_text", spy)
    at = _pick(_page(), [ida, idb])
    assert offered, "the page offers a JSON export"
    other = RunRepository(f"sqlite:///{tmp_path / 'other.db'}")
    new_ids = other.import_runs(json.loads(offered[-1]))
    for old_id, new_id in zip([ida, idb], new_ids):
        before, after = repo.get_run(old_id), other.get_run(new_id)
        assert (after.title, after.tags, after.spec, after.result, after.created_at) == (
            before.title, before.tags, before.spec, before.result, before.created_at
        )
        assert [(n.author, n.verdict, n.text) for n in after.notes] == [
            (n.author, n.verdict, n.text) for n in before.notes
        ]
    labels = [b.label for b in at.get("download_button")]
    assert {"JSON (can be imported again)", "CSV (each run's main table)", "HTML report with charts"} <= set(labels)


def test_csv_export_has_one_row_per_run_and_feature(saved, results) -> None:
    repo, (ida, idb, _) = saved
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(ui.saved_runs.exchange.export_csv_text([repo.get_run(ida), repo.get_run(idb)])))
    assert list(frame.columns) == ["run_id", "title", "kind", "feature", "seq_attr"]
    assert len(frame) == 2 * len(results[0]["features"])
    mine = frame[frame["run_id"] == idb]
    assert list(mine["feature"]) == results[1]["features"]
    np.testing.assert_allclose(mine["seq_attr"], results[1]["seq_attr"])


def test_import_through_the_page_and_bad_files_are_sentences(saved, no_engine) -> None:
    repo, (ida, idb, _) = saved
    document = json.dumps(repo.export_runs([ida, idb])).encode()
    at = _page()
    before = repo.count()
    for name, data, words in [
        ("broken.json", b"{not json", "not valid JSON"),
        ("other.json", b'{"hello": 1}', "not a WhyLM export"),
        ("binary.json", b"\xff\xfe\x00\x81", "not text"),
    ]:
        at.file_uploader(key="sr_import_file").set_value((name, data, "application/json"))
        _button(at, "Import").click().run()
        no_exception(at)
        assert words in _texts(at.error), _texts(at.error)
        assert repo.count() == before, "a failed import changes nothing"
    at.file_uploader(key="sr_import_file").set_value(("runs.json", document, "application/json"))
    _button(at, "Import").click().run()
    no_exception(at)
    assert repo.count() == before + 2
    new = [r for r in repo.list_runs() if r.id not in (ida, idb) and r.title in ("Tutorial ablation", "Tutorial with other baselines")]
    assert len(new) == 2
    assert all("imported" in r.tags for r in new), "imported runs are marked as imported"
    assert "Imported 2 run(s)" in _texts(at.success)
    assert sorted(at.multiselect(key="sr_pick").value) == sorted(r.id for r in new)
    assert repo.get_run(new[0].id).result == repo.get_run(ida if new[0].title == "Tutorial ablation" else idb).result


def test_failed_and_probe_runs_show_what_they_stored(data_dir, no_engine) -> None:
    repo = RunRepository()
    failed = repo.save_run("attribution", "Broke", {"kind": "attribution"}, None, status="failed",
                           error="The target is too long for this model; shorten it.")
    bias = repo.save_run("bias", "Nurse probe", {"kind": "bias"}, {
        "kind": "bias", "compare": ["women", "men"], "summary": ["‘nurse’ is 3 times as likely for women."],
        "candidates": [
            {"text": "nurse", "groups": {"women": {"mean": -2.0, "ci": [-2.2, -1.8]}, "men": {"mean": -3.1, "ci": [-3.3, -2.9]}},
             "gap": 1.1, "p_value": 0.001},
            {"text": "<script>pilot</script>", "groups": {"women": {"mean": -4.0, "ci": [-4.1, -3.9]}, "men": {"mean": -3.5, "ci": [-3.6, -3.4]}},
             "gap": -0.5, "p_value": 0.04},
        ],
    })
    few = repo.save_run("few_shot", "Sentiment shots", {"kind": "few_shot"}, {
        "kind": "few_shot", "summary": "Example 2 helps most.",
        "examples": [{"index": 0, "input": "great", "label": "pos", "shapley": 0.01, "std": 0.0},
                     {"index": 1, "input": "awful", "label": "neg", "shapley": 0.2, "std": 0.1}],
        "accuracy": {"zero_shot": 0.5, "all": 0.75, "best_subset": 1.0}, "mean_prob": {}, "best_subset": [1],
    })
    at = _page()
    assert set(_table(at, "run")["page"]) == {"Explain a prompt", "Bias associations", "Few-shot prompts"}
    at = _pick(at, [failed])
    assert "too long for this model" in _texts(at.warning)
    at = _pick(at, [bias])
    # the plain-words reading is made from the stored numbers (core.probes.bias.reading): no interval, no finding
    assert "No finding" in _texts(at.info)
    candidates = _table(at, "gap")
    assert list(candidates["candidate"]) == ["nurse", "<script>pilot</script>"]
    assert list(candidates["women: mean"]) == [-2.0, -4.0]
    at = _pick(at, [few])
    assert "Example 2 ('awful') helps most" in _texts(at.info)  # read from the numbers, not the stored summary
    # the few-shot page's own view draws it: Shapley values in points, accuracy in percent
    assert list(_table(at, "Shapley value (points)")["Shapley value (points)"]) == pytest.approx([1.0, 20.0])
    accuracy = list(_table(at, "accuracy (%)")["accuracy (%)"])
    # zero-shot, all, (no leave-one-out numbers were stored), best subset
    assert accuracy[:2] == pytest.approx([50.0, 75.0]) and accuracy[-1] == pytest.approx(100.0)
    at = _pick(at, [bias, few])
    assert "Runs of different kinds cannot be compared" in _texts(at.warning)


def test_a_corrupt_database_is_a_sentence_with_the_fix(data_dir) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "whylm.db").write_bytes(b"this is not a database at all, sorry")
    at = _page()
    assert "is not a WhyLM database" in _texts(at.error)
    assert any("WHYLM_DATA_DIR=" in c.value for c in at.code)


def test_an_old_database_shows_the_upgrade_command(data_dir) -> None:
    data_dir.mkdir(parents=True)
    url = f"sqlite:///{data_dir / 'whylm.db'}"
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
    finally:
        engine.dispose()
        dispose_engines()
    at = _page()
    assert "older WhyLM" in _texts(at.error)
    assert [c.value for c in at.code] == ["python -m core db upgrade"]
