"""Issue 15, defects 5 and 7: a failed save never throws a finished run away; damaged pages are noticed.

- ``run --save`` checks the store can take a write before it computes; a save that fails
  after computing still prints the result, and the page keeps it on screen with a download.
  A full disk is called a full disk (SQLite's SQLITE_FULL, simulated with
  ``PRAGMA max_page_count``), a read-only database read-only (a ``?mode=ro`` URL: we run as
  root, where chmod stops nothing).
- A database with an overwritten page is found damaged when it opens (``PRAGMA quick_check``),
  refuses writes with a sentence and is left as it was; ``python -m core db check`` runs the
  full integrity check and says in words what it found; a row that cannot be read is named
  by its run id, never dumped.

The runs here are not computed: ``core.engine.run`` is replaced by one that returns a real
stored result (a run of the bundled model, from ``tests/data``) and records that it ran.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from streamlit.testing.v1 import AppTest

import core.engine
from core.__main__ import main as cli_main
from core.attribution.result import RunResult
from core.store import RunRepository, StoreError
from core.store.config import sqlite_url
from core.store.database import dispose_engines, known_revisions
from core.store.health import quick_check
from tests.page_support import no_exception

ROOT = Path(__file__).resolve().parents[2]
OLD_DATABASE = ROOT / "tests" / "data" / "whylm_before_regrouping.db"
SPEC_FILE = str(ROOT / "examples" / "tutorial.json")


def stored_result() -> dict[str, Any]:
    """A real attribution result (SmolLM2 on the tutorial prompt), as the old test database holds it."""
    with sqlite3.connect(f"file:{OLD_DATABASE}?mode=ro&immutable=1", uri=True) as conn:
        text = conn.execute(
            "SELECT result_json FROM runs WHERE kind = 'attribution' AND result_json IS NOT NULL ORDER BY id"
        ).fetchone()[0]
    return RunResult.from_dict(json.loads(text)).to_dict()


def computed_result() -> dict[str, Any]:
    """What the replaced engine computes: the stored result with 20,000 characters more in ``extra``.

    Its row needs pages of its own, so a database that may not grow cannot save it.
    """
    result = stored_result()
    result["extra"]["note"] = "padding " * 2500
    return result


@pytest.fixture()
def computed(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the engine by one returning a real result; the list records every spec it computed."""
    calls: list[dict[str, Any]] = []
    result = RunResult.from_dict(computed_result())

    def fake_run(spec: dict[str, Any], **_: Any) -> RunResult:
        calls.append(spec)
        return result

    monkeypatch.setattr(core.engine, "run", fake_run)
    return calls


@pytest.fixture(autouse=True)
def _forget_engines():
    """Every test opens its databases afresh (engines and what was found damaged are per process)."""
    dispose_engines()
    yield
    dispose_engines()


def digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fill_the_disk(engine: Engine) -> None:
    """Make the database as full as a full disk: it may not grow by one page (SQLITE_FULL on growth).

    VACUUM first: the migrations leave free pages, which a save would fill before growing.
    """
    engine.dispose()
    with sqlite3.connect(engine.url.database, isolation_level=None) as conn:
        conn.execute("VACUUM")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    conn.close()

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # pooled connections go; new ones get the limit


def many_runs(path: Path, count: int) -> list[int]:
    """A WhyLM database at ``path`` holding ``count`` copies of a real run (imported in one go)."""
    result = stored_result()
    doc = {
        "whylm_export": 1,
        "runs": [
            {"kind": "attribution", "title": f"run {i}", "spec": result["spec"], "result": result,
             "model_name": result["meta"]["model_name"], "tags": ["a", f"t{i % 7}"]}
            for i in range(count)
        ],
    }
    ids = RunRepository(sqlite_url(path)).import_runs(doc)
    dispose_engines()  # checkpoints the WAL into the file
    return ids


def overwrite_page(path: Path, table: str) -> int:
    """Overwrite an interior b-tree page of ``table`` (a table or an index) with bytes; its number."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'internal' ORDER BY pageno", (table,)
        )]
    conn.close()
    assert pages, f"{table} has no interior page; save more runs"
    with path.open("r+b") as handle:
        handle.seek((pages[-1] - 1) * page_size)
        handle.write(bytes(range(256)) * (page_size // 256))
    return pages[-1]


def one_sentence(text: str) -> None:
    """Fail unless ``text`` is a sentence for people: no traceback, no unexpected failure."""
    assert text.strip() and "Traceback" not in text and "unexpectedly" not in text, text


# ---------------------------------------------------------------- defect 5: run --save


def _old_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A WhyLM database at its first schema revision (an older WhyLM's): `db upgrade` is the fix."""
    path = tmp_path / "data" / "whylm.db"
    RunRepository(sqlite_url(path))
    dispose_engines()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (known_revisions()[0],))
    conn.close()
    monkeypatch.setenv("WHYLM_DATA_DIR", str(path.parent))
    return "older WhyLM"


def _read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An up-to-date database that SQLite opens read-only (chmod stops nothing for root)."""
    path = tmp_path / "ro" / "whylm.db"
    RunRepository(sqlite_url(path))
    dispose_engines()
    monkeypatch.setenv("WHYLM_DATABASE_URL", f"sqlite:///file:{path}?mode=ro&uri=true")
    return "may not write"


def _folder_under_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A data folder whose parent is a regular file: it can never be created."""
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("WHYLM_DATA_DIR", str(tmp_path / "a-file" / "data"))
    return "Cannot create the data folder"


def _damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database with an interior page of an index overwritten."""
    path = tmp_path / "damaged" / "whylm.db"
    many_runs(path, 300)
    overwrite_page(path, "ix_runs_model_name")
    monkeypatch.setenv("WHYLM_DATA_DIR", str(path.parent))
    return "is damaged"


UNSAVEABLE = {
    "an old-schema database": _old_schema,
    "a read-only database": _read_only,
    "a data folder under a regular file": _folder_under_a_file,
    "a damaged database": _damaged,
}


@pytest.mark.parametrize("store", list(UNSAVEABLE))
def test_run_save_refuses_before_computing_when_the_store_cannot_save(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, computed: list, capsys
) -> None:
    monkeypatch.delenv("WHYLM_DATABASE_URL", raising=False)
    words = UNSAVEABLE[store](tmp_path, monkeypatch)
    assert cli_main(["run", SPEC_FILE, "--save", "--quiet"]) != 0
    out, err = capsys.readouterr()
    assert computed == [], "the run was computed although it could not be saved"
    assert words in err and out == ""
    one_sentence(err)
    # without --save the same spec runs (the check is only for saving)
    assert cli_main(["run", SPEC_FILE, "--quiet"]) == 0
    assert len(computed) == 1 and json.loads(capsys.readouterr().out)["kind"] == "attribution"


def test_run_save_refuses_a_title_too_long_before_computing(data_dir, computed, capsys) -> None:
    assert cli_main(["run", SPEC_FILE, "--save", "--quiet", "--title", "x" * 501]) != 0
    assert computed == [] and "longer than 500 characters" in capsys.readouterr().err


def test_a_save_that_fails_after_computing_still_prints_the_result(data_dir, computed, capsys) -> None:
    repo = RunRepository()
    repo.save_run("attribution", "already saved", {"prompt": "x"}, {"seq_attr": [1.0]})
    fill_the_disk(repo._engine)
    assert cli_main(["run", SPEC_FILE, "--save", "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert len(computed) == 1
    printed = json.loads(out)  # the finished run is on stdout all the same
    expected = RunResult.from_dict(computed_result()).to_dict()
    assert {k: v for k, v in printed.items() if k != "meta"} == {k: v for k, v in expected.items() if k != "meta"}
    assert "run_id" not in printed["meta"]
    assert "not saved" in err and "disk" in err and "is full" in err and "permissions" not in err
    one_sentence(err)
    assert [r.title for r in repo.list_runs()] == ["already saved"]  # nothing saved is lost


def test_a_full_disk_is_called_a_full_disk(data_dir) -> None:
    repo = RunRepository()
    fill_the_disk(repo._engine)
    with pytest.raises(StoreError) as info:
        repo.save_run("attribution", "t", {"prompt": "x"}, computed_result())
    message = str(info.value)
    assert message.startswith("The disk that holds the database") and "is full" in message
    assert "permissions" not in message and "WHYLM_DATA_DIR" in message
    repo.check_writable()  # no page is needed to check: a full disk is met at the save, not before


def _outcome_page(result_path: str, save_error: str) -> None:
    """AppTest script: the outcome of a finished run whose save failed (result in ``result_path``)."""
    import json as _json

    import streamlit as st

    from ui.shared.run_job import show_outcome

    with open(result_path, encoding="utf-8") as handle:
        st.session_state["res"] = _json.load(handle)
    st.session_state["res_outcome"] = {
        "status": "done", "error": None, "run_id": None, "save_error": save_error, "saved": True,
    }
    show_outcome("res")


def test_the_page_shows_a_failed_save_with_a_download_of_the_result(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(stored_result()), encoding="utf-8")
    sentence = "The disk that holds the database data/whylm.db is full (database or disk is full)."
    at = AppTest.from_function(_outcome_page, args=(str(path), sentence), default_timeout=60).run()
    no_exception(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "finished but was not saved" in errors[0] and sentence in errors[0]
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download the result (JSON)"]


def _launch_page() -> None:
    """AppTest script: press Run with saving on (the model and store are set by the test)."""
    from ui.shared.run_job import launch_run

    launch_run("job", "res", {"prompt": "x"}, None, True, "", [])


def test_the_page_checks_the_store_before_it_starts_a_run(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "whylm.db"
    RunRepository(sqlite_url(path))
    dispose_engines()
    read_only = RunRepository(f"sqlite:///file:{path}?mode=ro&uri=true")
    monkeypatch.setattr("ui.shared.run_job.current_model", lambda: (object(), None))
    monkeypatch.setattr("ui.shared.run_job.open_store", lambda: (read_only, None))
    at = AppTest.from_function(_launch_page, default_timeout=60).run()
    no_exception(at)
    assert "job" not in at.session_state, "a run was started that could not be saved"
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "may not write" in errors[0] and "Untick" in errors[0]


# ---------------------------------------------------------------- defect 7: damaged pages


@pytest.mark.parametrize("table", ["ix_runs_model_name", "runs", "run_tags"])
def test_an_overwritten_page_is_found_at_open_and_writes_are_refused(tmp_path: Path, table: str) -> None:
    path = tmp_path / "whylm.db"
    ids = many_runs(path, 300)
    page = overwrite_page(path, table)
    with sqlite3.connect(path) as conn:  # the damage is real: SQLite's own check sees it
        try:
            found = conn.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            found = [(str(exc),)]
    conn.close()
    assert found != [("ok",)]
    before = digest(path)
    repo = RunRepository(sqlite_url(path))  # it opens, so the runs that still read can be exported
    writes = {
        "save": lambda: repo.save_run("attribution", "new", {"prompt": "x"}, None),
        "import": lambda: repo.import_runs({"whylm_export": 1, "runs": [{"kind": "bias", "title": "t", "spec": {}}]}),
        "note": lambda: repo.add_note(ids[0], "Ada", "ok", "fine"),
        "rename": lambda: repo.rename(ids[0], "renamed"),
        "delete": lambda: repo.delete(ids[0]),
        "check": lambda: repo.check_writable(),
    }
    for what, write in writes.items():
        with pytest.raises(StoreError) as info:
            write()
        message = str(info.value)
        assert "is damaged" in message and "python -m core db check" in message, (what, message)
        assert f"Page {page}" in message or "malformed" in message, (what, message)
    assert repo.damage and "quick check" in repo.damage
    dispose_engines()
    assert digest(path) == before, "a write went into the damaged file"
    if table == "ix_runs_model_name":  # the table itself is whole: its runs still read
        assert RunRepository(sqlite_url(path)).get_run(ids[5]).title == "run 5"


def test_db_check_says_in_words_what_it_found(tmp_path: Path, capsys) -> None:
    sound = tmp_path / "sound" / "whylm.db"
    many_runs(sound, 300)
    damaged = tmp_path / "damaged" / "whylm.db"
    damaged.parent.mkdir()
    shutil.copy(sound, damaged)
    page = overwrite_page(damaged, "ix_runs_model_name")
    assert cli_main(["db", "--url", sqlite_url(sound), "check"]) == 0
    out = capsys.readouterr().out
    assert "is sound" in out and "integrity check found no problems" in out and "all 300 saved runs" in out
    dispose_engines()
    assert cli_main(["db", "--url", sqlite_url(damaged), "check"]) == 1
    err = capsys.readouterr().err
    assert "is damaged" in err and "integrity check found" in err and f"Page {page}" in err
    assert "All 300 saved runs still read back" in err and "runs export" in err
    one_sentence(err)
    assert cli_main(["db", "--url", sqlite_url(tmp_path / "none" / "whylm.db"), "check"]) == 0
    assert "no database" in capsys.readouterr().out


def _garble_title(path: Path, title: str) -> None:
    """Replace the first bytes of a run's stored title with bytes that are not UTF-8."""
    data = bytearray(path.read_bytes())
    at = data.find(title.encode())
    assert at > 0
    data[at : at + 3] = b"\xff\xfe\xfd"
    path.write_bytes(bytes(data))


def test_a_row_that_cannot_be_read_is_named_not_dumped(tmp_path: Path, capsys) -> None:
    path = tmp_path / "whylm.db"
    repo = RunRepository(sqlite_url(path))
    ids = [repo.save_run("attribution", f"Secret title {i}", {"prompt": "p"}, None) for i in range(5)]
    dispose_engines()
    _garble_title(path, "Secret title 3")
    assert quick_check(path) is None  # the pages are whole: only the row's text is damaged
    repo = RunRepository(sqlite_url(path))
    for read in (repo.list_runs, lambda: repo.get_run(ids[3])):
        with pytest.raises(StoreError) as info:
            read()
        message = str(info.value)
        assert message.startswith(f"Run {ids[3]} cannot be read") and f"runs delete {ids[3]}" in message
        assert "title 3" not in message and "decode" not in message
    assert repo.get_run(ids[2]).title == "Secret title 2"  # the other runs read
    assert repo.unreadable_runs() == [ids[3]]
    dispose_engines()
    assert cli_main(["db", "--url", sqlite_url(path), "check"]) == 1
    err = capsys.readouterr().err
    assert f"cannot be read back: run {ids[3]}" in err and "title 3" not in err
    # the pages are sound, so the damaged run can be deleted as the sentence says
    assert cli_main(["runs", "--url", sqlite_url(path), "delete", str(ids[3]), "--yes"]) == 0
    assert f"Deleted run {ids[3]}" in capsys.readouterr().out
    repo = RunRepository(sqlite_url(path))
    assert [r.id for r in repo.list_runs()] == sorted(set(ids) - {ids[3]}, reverse=True)


def test_the_quick_check_at_open_stays_fast_on_a_thousand_runs(tmp_path: Path) -> None:
    path = tmp_path / "whylm.db"
    many_runs(path, 1000)
    started = time.perf_counter()
    assert quick_check(path) is None
    checked = time.perf_counter() - started
    started = time.perf_counter()
    repo = RunRepository(sqlite_url(path))
    opened = time.perf_counter() - started
    assert repo.count() == 1000 and repo.damage is None
    # measured on the 2-core test machine: about 0.01 s to check, 0.05 s to open; the bound allows a busy machine
    assert checked < 1.0 and opened < 3.0, (checked, opened)


def test_a_damaged_store_is_refused_on_the_page_before_run(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "whylm.db"
    many_runs(path, 300)
    overwrite_page(path, "ix_runs_model_name")
    repo = RunRepository(sqlite_url(path))
    monkeypatch.setattr("ui.shared.run_job.current_model", lambda: (object(), None))
    monkeypatch.setattr("ui.shared.run_job.open_store", lambda: (repo, None))
    at = AppTest.from_function(_launch_page, default_timeout=60).run()
    no_exception(at)
    assert "job" not in at.session_state
    assert any("is damaged" in e.value for e in at.error)

