"""Issue 23, point 11: a damaged database shows what still reads, and names what does not.

A real SQLite file with many runs has one 4 KB page of its runs table overwritten (the runs on
that page are lost to SQLite's normal reads). ``runs list`` lists every other run and names the
lost ones; ``runs show`` says a lost run "is in a damaged part of the database" (not that there is
no such run); ``runs export`` exports what reads and names the rest; ``db check`` says how to
recover (SQLite's ``.recover``, or a backup); the Saved runs page lists the readable runs under
its warning.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from core.__main__ import main as cli_main
from core.store import RunRepository
from core.store.config import sqlite_url
from core.store.database import dispose_engines
from core.store.health import forget_damage
from tests.page_support import no_exception, open_page

RUNS = 3000


@pytest.fixture(autouse=True)
def _fresh():
    dispose_engines()
    forget_damage()
    yield
    dispose_engines()
    forget_damage()


def _lost_page(path: Path) -> tuple[list[int], list[int]]:
    """Save ``RUNS`` small runs, overwrite a leaf page in the middle of the runs table: (all ids, lost ids)."""
    doc = {
        "whylm_export": 1,
        "runs": [
            {"kind": "attribution", "title": f"run {i}", "spec": {"prompt": "a prompt " * 30, "n": i}, "tags": ["t"]}
            for i in range(RUNS)
        ],
    }
    ids = RunRepository(sqlite_url(path)).import_runs(doc)
    dispose_engines()
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'runs' AND pagetype = 'leaf' ORDER BY pageno")]
        page = leaves[len(leaves) // 2]
    conn.close()
    assert page_size == 4096
    with path.open("r+b") as handle:
        handle.seek((page - 1) * page_size)
        handle.write(bytes(range(256)) * (page_size // 256))
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:  # which ids SQLite can no longer read
        lost = []
        for run_id in ids:
            try:
                conn.execute("SELECT title FROM runs WHERE id = ?", (run_id,)).fetchall()
            except sqlite3.DatabaseError:
                lost.append(run_id)
    conn.close()
    assert 0 < len(lost) < 50, lost
    return ids, lost


@pytest.fixture()
def damaged(tmp_path: Path) -> tuple[Path, list[int], list[int]]:
    path = tmp_path / "data" / "whylm.db"
    path.parent.mkdir()
    ids, lost = _lost_page(path)
    return path, ids, lost


def test_runs_list_lists_what_reads_and_names_what_does_not(damaged, capsys) -> None:
    path, ids, lost = damaged
    began = time.perf_counter()
    assert cli_main(["runs", "--url", sqlite_url(path), "list"]) == 1
    listing = time.perf_counter() - began
    out, err = capsys.readouterr()
    listed = [int(line.split()[0]) for line in out.splitlines()[2:]]
    assert sorted(listed) == sorted(set(ids) - set(lost))
    assert f"{len(lost)} runs: {', '.join(map(str, lost))} are in a damaged part of the database" in err
    assert "python -m core db check" in err and "Traceback" not in err
    assert listing < 30, listing  # about 1 s for 3,000 runs on an idle machine


def test_a_lost_run_is_named_as_damaged_not_missing(damaged, capsys) -> None:
    path, ids, lost = damaged
    assert cli_main(["runs", "--url", sqlite_url(path), "show", str(lost[0])]) == 1
    err = capsys.readouterr().err
    assert f"Run {lost[0]} is in a damaged part of the database" in err and "no saved run" not in err
    good = ids[0]
    assert cli_main(["runs", "--url", sqlite_url(path), "show", str(good)]) == 0
    assert f"Run {good}: run 0" in capsys.readouterr().out


def test_export_exports_what_reads_and_names_the_rest(damaged, tmp_path: Path, capsys) -> None:
    path, ids, lost = damaged
    wanted = [ids[0], lost[0], ids[-1], lost[-1]]
    out = tmp_path / "runs.json"
    assert cli_main(["runs", "--url", sqlite_url(path), "export", *map(str, wanted), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [r["id"] for r in doc["runs"]] == [ids[0], ids[-1]]
    assert f"Run {lost[0]} is in a damaged part" in err and f"Run {lost[-1]} is in a damaged part" in err
    assert "Exported 2 of the 4 run(s)" in err


def test_db_check_says_how_to_recover(damaged, capsys) -> None:
    path, ids, lost = damaged
    assert cli_main(["db", "--url", sqlite_url(path), "check"]) == 1
    err = capsys.readouterr().err
    assert f"{len(lost)} of the {len(ids)} saved runs cannot be read back: run {lost[0]}" in err
    assert "in a damaged part of the database" in err
    assert f"sqlite3 {path} .recover | sqlite3 recovered.db" in err and "restore the file from a backup" in err


def test_the_saved_runs_page_lists_the_readable_runs_under_the_warning(damaged, monkeypatch) -> None:
    path, ids, lost = damaged
    monkeypatch.setenv("WHYLM_DATA_DIR", str(path.parent))
    monkeypatch.delenv("WHYLM_DATABASE_URL", raising=False)
    import ui.shared.model

    ui.shared.store._cached_repository.clear()
    at = open_page("pages/saved_runs.py", 180)
    no_exception(at)
    warnings = [w.value for w in at.main.warning]
    assert any("is damaged" in w and f"runs: {lost[0]}, " in w and "damaged part" in w for w in warnings), warnings
    assert any(f"{len(ids) - len(lost)} saved runs" in c.value for c in at.main.caption), [c.value for c in at.main.caption]
    ui.shared.store._cached_repository.clear()
