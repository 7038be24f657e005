"""Repository tests of the run store, on SQLite and (when configured) on PostgreSQL.

Set WHYLM_TEST_POSTGRES_URL (``source .ci/start_postgres.sh``) to run the PostgreSQL
parametrisations; without it they are skipped.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from core.errors import WhyLMError
from core.runs.saved import save_run
from core.store import RunRepository, StoreError
from core.store.config import sqlite_url
from core.store.database import dispose_engines, open_engine
from core.store.models import Note, RunTag


@pytest.fixture
def repo(store_url: str) -> RunRepository:
    """A repository on an empty database."""
    return RunRepository(store_url)


def spec_for(kind: str, i: int = 0) -> dict:
    """A realistic nested spec of a run of ``kind``."""
    return {
        "kind": kind,
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "prompt": {
            "template": "{name} lives in {city} and works as a",
            "values": {"name": "Dave", "city": "Palm Coast"},
            "baselines": {"name": ["Sarah", "Lee"], "city": "Seattle"},
            "groups": None,
        },
        "chat_template": kind != "gradient",
        "target": {"mode": "generated", "generate": {"max_new_tokens": 20, "do_sample": False}},
        "score": "log_prob",
        "method": {"name": {"gradient": "integrated_gradients"}.get(kind, "shapley"), "params": {"n_samples": 25 + i}},
        "trials": 1,
        "seed": i,
    }


def result_for(kind: str, i: int = 0) -> dict:
    """A realistic nested result of a run of ``kind`` (awkward floats and text included)."""
    return {
        "features": ["name", "city", "ünïcödé ✓", 'quote " and \\ backslash'],
        "output_tokens": ["▁a", "▁nurse", "\n", "</s>"],
        "sequence_attr": [0.1, -2.5e-7, 1e-300, 123456789.123456789],
        "token_attr": [[0.1 * i, 0.2], [-0.3, 0.0], [1.0, -1.0], [2.0, 3.0]],
        "scores": {"all": -3.25, "none": -9.0},
        "nested": {"empty": {}, "list": [], "none": None, "bool": True, "big": 2**62},
        "meta": {"model_name": "smollm2-135m", "model_revision": "abc123", "seconds": 1.25 + i, "forward_passes": 33},
    }


KINDS = ["attribution", "gradient", "bias", "few_shot"]


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_of_every_kind(repo: RunRepository, kind: str) -> None:
    spec, result = spec_for(kind, 3), result_for(kind, 3)
    run_id = repo.save_run(kind, f"A {kind} run", spec, result, tags=["b", "a", "b"])
    record = repo.get_run(run_id)
    assert record.spec == json.loads(json.dumps(spec))
    assert record.result == json.loads(json.dumps(result))
    assert record.kind == kind
    assert record.title == f"A {kind} run"
    assert record.tags == ("a", "b")
    assert record.model_name == "smollm2-135m"  # the result's meta wins over the spec
    assert record.model_revision == "abc123"
    assert record.method == spec["method"]["name"]
    assert record.seconds == pytest.approx(4.25)
    assert record.status == "done" and record.error is None
    assert record.created_at.tzinfo is not None
    assert abs(record.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert record.summary == repo.list_runs()[0]


def test_nan_and_infinity_survive(repo: RunRepository) -> None:
    run_id = repo.save_run("attribution", "nan", {"model": "m"}, {"x": [math.nan, math.inf, -math.inf]})
    values = repo.get_run(run_id).result["x"]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf


def test_fields_are_derived_tolerantly(repo: RunRepository) -> None:
    bare = repo.get_run(repo.save_run("bias", "bare", {}, None))
    assert (bare.model_name, bare.method, bare.seconds, bare.result) == ("", None, None, None)
    as_dict = repo.get_run(repo.save_run("gradient", "d", {"model": {"name": "m", "revision": "r1"}, "method": "ig"}, {"meta": {}}))
    assert (as_dict.model_name, as_dict.model_revision, as_dict.method) == ("m", "r1", "ig")
    explicit = repo.get_run(
        repo.save_run("few_shot", "e", spec_for("few_shot"), result_for("few_shot"), model_name="X", method="lime", seconds=9.0)
    )
    assert (explicit.model_name, explicit.method, explicit.seconds) == ("X", "lime", 9.0)


def test_failed_and_stopped_runs(repo: RunRepository) -> None:
    failed = repo.save_run("attribution", "f", {"model": "m"}, None, status="failed", error="Out of memory.")
    stopped = repo.save_run("attribution", "s", {"model": "m"}, {"partial": True}, status="stopped")
    assert repo.get_run(failed).error == "Out of memory."
    assert repo.get_run(stopped).status == "stopped"
    assert [r.id for r in repo.list_runs(status="failed")] == [failed]
    with pytest.raises(StoreError, match="status"):
        repo.save_run("attribution", "x", {}, None, status="exploded")


def test_a_failed_save_writes_nothing(repo: RunRepository) -> None:
    repo.save_run("attribution", "ok", {"model": "m"}, {})
    with pytest.raises(StoreError, match="JSON"):
        repo.save_run("attribution", "bad", {"model": "m"}, {"not json": {1, 2}})
    with pytest.raises(StoreError, match="title"):
        repo.save_run("attribution", "  ", {"model": "m"}, {})
    with pytest.raises(StoreError):
        repo.save_run("attribution", "t", {"model": "m"}, {}, tags=["x" * 101])
    assert repo.count() == 1


def test_errors_are_whylm_errors(repo: RunRepository) -> None:
    with pytest.raises(WhyLMError, match="no saved run with id 99"):
        repo.get_run(99)
    for call in (lambda: repo.rename(99, "t"), lambda: repo.delete(99), lambda: repo.notes(99),
                 lambda: repo.set_tags(99, ["a"]), lambda: repo.add_note(99, "me", "ok", "t")):
        with pytest.raises(StoreError, match="99"):
            call()


def test_notes(repo: RunRepository) -> None:
    run_id = repo.save_run("bias", "b", {"model": "m"}, {})
    first = repo.add_note(run_id, "Ada", "concern", "The city dominates.")
    second = repo.add_note(run_id, "Bob", "needs review", "")
    repo.add_note(run_id, "Cy", "ok", "Fine by me.")
    notes = repo.notes(run_id)
    assert [n.author for n in notes] == ["Ada", "Bob", "Cy"]
    assert notes[0] == first and notes[1] == second
    assert first.run_id == run_id and first.created_at.tzinfo is not None
    assert repo.get_run(run_id).notes == tuple(notes)
    assert repo.list_runs()[0].note_count == 3
    with pytest.raises(StoreError, match="verdict"):
        repo.add_note(run_id, "Ada", "great", "x")
    with pytest.raises(StoreError, match="author"):
        repo.add_note(run_id, " ", "ok", "x")


def test_rename_and_tags(repo: RunRepository) -> None:
    run_id = repo.save_run("attribution", "old", {"model": "m"}, {}, tags=["x"])
    repo.rename(run_id, "  new title ")
    assert repo.get_run(run_id).title == "new title"
    with pytest.raises(StoreError):
        repo.rename(run_id, "")
    assert repo.set_tags(run_id, ["b", " a ", "", "b"]) == ("b", "a")
    assert repo.get_run(run_id).tags == ("a", "b")
    assert repo.list_runs(tag="x") == []
    repo.set_tags(run_id, [])
    assert repo.get_run(run_id).tags == ()


def test_delete_cascades_to_notes_and_tags(repo: RunRepository, store_url: str) -> None:
    keep = repo.save_run("attribution", "keep", {"model": "m"}, {}, tags=["t"])
    gone = repo.save_run("attribution", "gone", {"model": "m"}, {}, tags=["t", "u"])
    repo.add_note(keep, "a", "ok", "k")
    repo.add_note(gone, "a", "ok", "g1")
    repo.add_note(gone, "b", "concern", "g2")
    repo.delete(gone)
    assert repo.count() == 1
    with pytest.raises(StoreError):
        repo.get_run(gone)
    with open_engine(store_url).connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Note)) == 1
        assert conn.scalar(select(func.count()).select_from(RunTag)) == 1
    assert repo.save_run("attribution", "new", {"model": "m"}, {}) > gone  # ids are never reused


def test_filters(repo: RunRepository) -> None:
    base = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    ids = {}
    for i, (kind, model, method, tags, title) in enumerate([
        ("attribution", "m1", "shapley", ["keep"], "Nurse prompt"),
        ("gradient", "m1", "integrated_gradients", [], "100% sure_thing"),
        ("bias", "m2", "feature_ablation", ["keep", "bias"], "nurse vs doctor"),
        ("few_shot", "m2", "shapley", [], "Few shot"),
    ]):
        spec = {"model": model, "method": {"name": method}}
        ids[title] = repo.save_run(kind, title, spec, {}, tags=tags, created_at=base + timedelta(days=i))
    titles = lambda runs: [r.title for r in runs]
    assert titles(repo.list_runs()) == ["Few shot", "nurse vs doctor", "100% sure_thing", "Nurse prompt"]
    assert titles(repo.list_runs(kind="gradient")) == ["100% sure_thing"]
    assert titles(repo.list_runs(model="m2")) == ["Few shot", "nurse vs doctor"]
    assert titles(repo.list_runs(method="shapley")) == ["Few shot", "Nurse prompt"]
    assert titles(repo.list_runs(tag="keep")) == ["nurse vs doctor", "Nurse prompt"]
    assert titles(repo.list_runs(text="NURSE")) == ["nurse vs doctor", "Nurse prompt"]
    assert titles(repo.list_runs(text="0% s")) == ["100% sure_thing"]
    assert repo.list_runs(text="%") == repo.list_runs(text="100%")
    assert repo.list_runs(text="100%_sure") == []  # "%" and "_" are not wildcards
    assert titles(repo.list_runs(since=base + timedelta(days=1), until=base + timedelta(days=2))) == [
        "nurse vs doctor", "100% sure_thing"]
    assert titles(repo.list_runs(since=date(2024, 5, 3))) == ["Few shot", "nurse vs doctor"]
    assert titles(repo.list_runs(until=date(2024, 5, 1))) == ["Nurse prompt"]
    naive = datetime(2024, 5, 2, 12, 0)  # naive means UTC
    assert titles(repo.list_runs(since=naive, until=naive)) == ["100% sure_thing"]
    assert titles(repo.list_runs(model="m1", tag="keep")) == ["Nurse prompt"]
    assert titles(repo.list_runs(limit=2)) == ["Few shot", "nurse vs doctor"]
    by_title = {r.title: r for r in repo.list_runs()}
    assert by_title["nurse vs doctor"].tags == ("bias", "keep")
    assert by_title["Nurse prompt"].created_at == base


def test_list_never_reads_documents(repo: RunRepository, store_url: str) -> None:
    for i in range(3):
        repo.save_run("attribution", f"r{i}", spec_for("attribution"), result_for("attribution"), tags=["t"])
    statements: list[str] = []
    engine = open_engine(store_url)
    listener = lambda *args: statements.append(args[2])
    event.listen(engine, "before_cursor_execute", listener)
    try:
        runs = repo.list_runs(tag="t", text="r")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(runs) == 3 and statements
    assert not any("spec_json" in s or "result_json" in s for s in statements)


def test_export_import_round_trip(repo: RunRepository, tmp_path) -> None:
    a = repo.save_run("bias", "A", spec_for("bias"), result_for("bias"), tags=["x", "y"],
                      created_at=datetime(2023, 1, 2, 3, 4, 5, 6789, tzinfo=UTC))
    b = repo.save_run("gradient", "B", spec_for("gradient"), None, status="failed", error="Boom.")
    repo.add_note(a, "Ada", "concern", "note 1")
    repo.add_note(a, "Bob", "ok", "note 2")
    doc = repo.export_runs([a, b])
    assert doc["whylm_export"] == 1 and len(doc["runs"]) == 2
    doc = json.loads(json.dumps(doc))  # it is plain JSON

    other = RunRepository(sqlite_url(tmp_path / "other" / "whylm.db"))
    new_ids = other.import_runs(doc)
    assert len(new_ids) == 2
    for old, new in zip([a, b], new_ids, strict=True):
        before, after = repo.get_run(old), other.get_run(new)
        assert after.spec == before.spec and after.result == before.result
        strip = lambda r: (r.kind, r.title, r.model_name, r.model_revision, r.method, r.status,
                           r.error, r.seconds, r.created_at, r.tags,
                           [(n.author, n.verdict, n.text, n.created_at) for n in r.notes])
        assert strip(after) == strip(before)
    # exporting the imported runs gives the same document (apart from ids and time)
    again = other.export_runs(new_ids)
    for x, y in zip(doc["runs"], again["runs"], strict=True):
        assert {k: v for k, v in x.items() if k != "id"} == {k: v for k, v in y.items() if k != "id"}
    # and the same database can import its own export
    assert len(repo.import_runs(doc)) == 2 and repo.count() == 4


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ([], "not a WhyLM export"),
        ({"runs": []}, "whylm_export"),
        ({"whylm_export": 2, "runs": []}, "format 2"),
        ({"whylm_export": 1, "runs": {}}, "not a list"),
        ({"whylm_export": 1, "runs": [{"kind": "bias", "title": "t"}]}, "run 1 has no spec"),
        ({"whylm_export": 1, "runs": [{"kind": "bias", "title": "t", "spec": {}, "status": "meh"}]}, "status"),
        ({"whylm_export": 1, "runs": [{"kind": "bias", "title": "t", "spec": {}, "created_at": "yesterday"}]}, "ISO"),
        ({"whylm_export": 1, "runs": [{"kind": "bias", "title": "t", "spec": {}, "notes": [{"text": "x"}]}]}, "author"),
        ({"whylm_export": 1, "runs": [{"kind": "bias", "title": "t", "spec": {}, "seconds": "3"}]}, "seconds"),
    ],
)
def test_bad_import_documents_are_refused(repo: RunRepository, doc, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        repo.import_runs(doc)
    assert repo.count() == 0


def test_an_import_is_all_or_nothing(repo: RunRepository) -> None:
    good = {"kind": "bias", "title": "good", "spec": {}}
    bad = {"kind": "bias", "title": "bad", "spec": {}, "notes": [{"author": "a", "verdict": "??", "text": ""}]}
    with pytest.raises(StoreError, match="run 2"):
        repo.import_runs({"whylm_export": 1, "runs": [good, bad]})
    assert repo.count() == 0
    assert len(repo.import_runs({"whylm_export": 1, "runs": [good, good]})) == 2


def test_the_save_path_uses_the_configured_database(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("WHYLM_DATABASE_URL", raising=False)
    monkeypatch.setenv("WHYLM_DATA_DIR", str(tmp_path / "data"))
    spec = spec_for("few_shot")
    repo = RunRepository()
    run_id = save_run(repo, spec, result_for("few_shot"), tags=["cli"])
    assert (tmp_path / "data" / "whylm.db").is_file()
    record = repo.get_run(run_id)
    assert record.kind == "few_shot" and record.tags == ("cli",)
    assert record.title == "{name} lives in {city} and works as a"
    spec.pop("kind")
    assert repo.get_run(save_run(repo, spec, None, title="T")).kind == "attribution"
    dispose_engines()
