"""Schema revisions of the run store: creation, refusal of old/foreign/corrupt databases, upgrade."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from core.store import RunRepository, StoreError
from core.store.cli import main_db
from core.store.config import database_url, sqlite_url
from core.store.database import (
    alembic_config,
    create_store_engine,
    dispose_engines,
    head_revision,
    inspect_sqlite_file,
    known_revisions,
    open_engine,
    upgrade_database,
)
from core.store.errors import StoreBusyError
from core.store.health import damage, run_check
from core.store.models import Base

FIRST = "0001"


def digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_old_database(url: str) -> None:
    """Create a database at revision 0001 holding two runs and a note, as an old WhyLM would."""
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), FIRST)
            now = datetime(2024, 1, 1, tzinfo=UTC)
            for i in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO runs (kind, title, model_name, method, status, error, seconds,"
                        " created_at, spec_json, result_json) VALUES ('bias', :title, 'm', 'shapley',"
                        " 'done', NULL, 1.5, :now, :spec, :result)"
                    ),
                    {"title": f"old {i}", "now": now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now,
                     "spec": f'{{"model": "m", "n": {i}}}', "result": '{"scores": [1.0, -2.5]}'},
                )
            conn.execute(
                text("INSERT INTO review_notes (run_id, author, verdict, text, created_at)"
                     " VALUES (1, 'Ada', 'ok', 'fine', :now)"),
                {"now": now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now},
            )
    finally:
        engine.dispose()


def test_there_are_two_revisions_in_a_line() -> None:
    assert known_revisions() == ["0001", "0002"]
    assert head_revision() == "0002"


def test_a_new_database_is_created_at_the_newest_revision_matching_the_models(store_url: str) -> None:
    RunRepository(store_url)
    with open_engine(store_url).connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, Base.metadata) == []


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path) -> None:
    url = sqlite_url(tmp_path / "whylm.db")
    RunRepository(url)
    with open_engine(url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    dispose_engines()


def test_an_old_database_is_refused_then_upgraded_with_its_data(store_url: str) -> None:
    make_old_database(store_url)
    path = Path(store_url.removeprefix("sqlite:///")) if store_url.startswith("sqlite") else None
    before = digest(path) if path else None
    with pytest.raises(StoreError) as refused:
        RunRepository(store_url)
    message = str(refused.value)
    assert "older WhyLM (revision 0001)" in message
    assert "`python -m core db upgrade`" in message
    if path:
        assert "(a backup is taken first)" in message
        assert digest(path) == before  # refusing changed nothing

    report = upgrade_database(store_url)
    assert (report.from_revision, report.to_revision) == ("0001", "0002")
    if path:
        assert report.backup is not None and report.backup.is_file()
        assert report.backup.name.startswith("whylm.db.backup-")
        assert inspect_sqlite_file(report.backup) == "0001"  # the backup is the old database
        with sqlite3.connect(report.backup) as old:
            assert old.execute("SELECT count(*) FROM runs").fetchone() == (2,)
        assert "backup" in report.sentence()

    repo = RunRepository(store_url)
    assert repo.count() == 2
    old = repo.get_run(1)
    assert old.spec == {"model": "m", "n": 1} and old.result == {"scores": [1.0, -2.5]}
    assert (old.title, old.model_name, old.method, old.seconds, old.tags, old.model_revision) == (
        "old 1", "m", "shapley", 1.5, (), None)
    assert old.created_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert [(n.author, n.text) for n in old.notes] == [("Ada", "fine")]
    repo.set_tags(1, ["migrated"])
    new = repo.save_run("bias", "new", {"model": "m"}, {}, tags=["t"])
    assert new == 3 and [r.id for r in repo.list_runs(tag="migrated")] == [1]
    assert upgrade_database(store_url).sentence().endswith("already up to date (revision 0002).")


def test_db_cli_upgrade_and_current(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("WHYLM_DATABASE_URL", raising=False)
    monkeypatch.setenv("WHYLM_DATA_DIR", str(tmp_path))
    make_old_database(database_url())
    assert main_db(["current"]) == 0
    assert "revision 0001; run `python -m core db upgrade`" in capsys.readouterr().out
    assert main_db(["upgrade"]) == 0
    out = capsys.readouterr().out
    assert "from revision 0001 to 0002 after saving a backup to" in out
    assert len(list(tmp_path.glob("whylm.db.backup-*"))) == 1
    assert main_db(["current"]) == 0
    assert "revision 0002 (up to date)" in capsys.readouterr().out
    assert main_db(["frobnicate"]) == 2
    assert "python -m core db" in capsys.readouterr().err
    dispose_engines()


def test_a_newer_revision_is_refused(tmp_path) -> None:
    path = tmp_path / "whylm.db"
    url = sqlite_url(path)
    RunRepository(url)
    dispose_engines()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    before = digest(path)
    for attempt in (lambda: RunRepository(url), lambda: upgrade_database(url)):
        with pytest.raises(StoreError, match="revision 9999, which this WhyLM does not know"):
            attempt()
    assert digest(path) == before


CORRUPT_CONTENTS = {
    "random bytes": os.urandom(8192),
    "text": b"name,score\nDave,0.5\n" * 100,
    "sqlite header then garbage": b"SQLite format 3\x00" + b"\xff\x13" * 4000,
}


@pytest.mark.parametrize("what", list(CORRUPT_CONTENTS))
def test_a_corrupt_file_is_refused_and_left_alone(tmp_path, monkeypatch, what: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WHYLM_DATABASE_URL", raising=False)
    monkeypatch.delenv("WHYLM_DATA_DIR", raising=False)
    path = tmp_path / "data" / "whylm.db"
    path.parent.mkdir()
    path.write_bytes(CORRUPT_CONTENTS[what])
    for attempt in (RunRepository, lambda: upgrade_database(database_url())):
        with pytest.raises(StoreError) as refused:
            attempt()
        message = str(refused.value)
        assert message.startswith("The file data/whylm.db is not a WhyLM database (")
        assert message.endswith("Move it away or set WHYLM_DATA_DIR to another folder.")
        assert "\n" not in message
    assert path.read_bytes() == CORRUPT_CONTENTS[what]
    assert sorted(p.name for p in path.parent.iterdir()) == ["whylm.db"]


def test_a_foreign_sqlite_database_is_refused_and_left_alone(tmp_path) -> None:
    path = tmp_path / "whylm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.execute("INSERT INTO people VALUES ('Dave')")
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match=r"not a WhyLM database \(it holds other tables: people\)"):
        RunRepository(sqlite_url(path))
    assert digest(path) == before


def test_a_folder_at_the_database_path_is_refused(tmp_path) -> None:
    (tmp_path / "whylm.db").mkdir()
    with pytest.raises(StoreError, match="is a folder"):
        RunRepository(sqlite_url(tmp_path / "whylm.db"))


def test_an_empty_file_becomes_a_database(tmp_path) -> None:
    path = tmp_path / "whylm.db"
    path.touch()
    assert RunRepository(sqlite_url(path)).count() == 0
    assert inspect_sqlite_file(path) == head_revision()
    dispose_engines()


def test_configuration_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("WHYLM_DATABASE_URL", raising=False)
    monkeypatch.delenv("WHYLM_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert database_url() == f"sqlite:///{tmp_path / 'data' / 'whylm.db'}"
    monkeypatch.setenv("WHYLM_DATA_DIR", str(tmp_path / "elsewhere"))
    assert database_url() == f"sqlite:///{tmp_path / 'elsewhere' / 'whylm.db'}"
    monkeypatch.setenv("WHYLM_DATABASE_URL", "postgresql://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"


def test_unusable_urls_get_sentences() -> None:
    with pytest.raises(StoreError, match="not one WhyLM can use"):
        RunRepository("nonsense://x")
    with pytest.raises(StoreError, match="Cannot use the database postgresql\\+psycopg://u:\\*\\*\\*@127.0.0.1:1/db"):
        RunRepository("postgresql+psycopg://u:secret@127.0.0.1:1/db?connect_timeout=2")


def test_a_locked_file_is_reported_as_locked_not_foreign(tmp_path, monkeypatch) -> None:
    path = tmp_path / "whylm.db"
    RunRepository(sqlite_url(path))
    dispose_engines()
    monkeypatch.setattr("core.store.database.SQLITE_BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another program"):
            inspect_sqlite_file(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _hold_exclusive(path: Path) -> sqlite3.Connection:
    """Open ``path`` and hold SQLite's exclusive lock (no other connection can read or write)."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def _release(holder: sqlite3.Connection) -> None:
    holder.execute("ROLLBACK")
    holder.close()


def test_opening_waits_out_a_short_lock_and_never_calls_it_damage(tmp_path, monkeypatch) -> None:
    # SQLite can answer "database is locked" at once (a process's last connection cleaning up the
    # write-ahead log, two processes creating one file): opening tries again instead of failing,
    # and a quick check that met the lock does not mark the file damaged.
    path = tmp_path / "whylm.db"
    url = sqlite_url(path)
    RunRepository(url).save_run("attribution", "kept", {"model": "m"}, {"r": 1})
    dispose_engines()
    for module in ("core.store.database", "core.store.health"):
        monkeypatch.setattr(f"{module}.SQLITE_BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr("core.store.database.OPEN_PATIENCE_S", 10.0)
    holder = _hold_exclusive(path)
    timer = threading.Timer(0.5, _release, [holder])
    timer.start()
    started = time.monotonic()
    repo = RunRepository(url)
    timer.join()
    assert time.monotonic() - started >= 0.4
    assert [run.title for run in repo.list_runs()] == ["kept"]
    assert damage(url) is None
    repo.save_run("attribution", "after", {"model": "m"}, {"r": 2})
    assert repo.count() == 2


def test_a_lock_held_past_the_patience_is_one_sentence(tmp_path, monkeypatch) -> None:
    path = tmp_path / "whylm.db"
    RunRepository(sqlite_url(path))
    dispose_engines()
    for module in ("core.store.database", "core.store.health"):
        monkeypatch.setattr(f"{module}.SQLITE_BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr("core.store.database.OPEN_PATIENCE_S", 0.3)
    holder = _hold_exclusive(path)
    try:
        with pytest.raises(StoreBusyError, match="locked by another program"):
            RunRepository(sqlite_url(path))
        with pytest.raises(StoreBusyError, match="locked by another program"):
            run_check(path, "quick_check")
    finally:
        _release(holder)
    assert damage(sqlite_url(path)) is None
    assert run_check(path, "quick_check") == []
