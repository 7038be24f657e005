"""The store's command line: ``python -m core runs ...`` via :func:`main_runs`."""

from __future__ import annotations

import io
import json

import pytest

from core.store import RunRepository
from core.store.cli import main_runs
from core.store.database import dispose_engines


@pytest.fixture
def repo(tmp_path, monkeypatch) -> RunRepository:
    """A repository on the configured (environment) database, with three runs."""
    monkeypatch.delenv("WHYLM_DATABASE_URL", raising=False)
    monkeypatch.setenv("WHYLM_DATA_DIR", str(tmp_path / "data"))
    repo = RunRepository()
    repo.save_run("attribution", "Nurse prompt", {"model": "smol", "method": {"name": "shapley"}}, {"x": 1}, tags=["keep"])
    repo.save_run("gradient", "Gradients of a long title " * 4, {"model": "smol", "method": "ig"}, None, status="failed",
                  error="Out of memory.")
    third = repo.save_run("bias", "Bias probe", {"model": "other"}, {"y": [1, 2]})
    repo.add_note(third, "Ada", "concern", "Look at the city.")
    yield repo
    dispose_engines()


def test_list(repo: RunRepository, capsys) -> None:
    assert main_runs(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "created", "(UTC)", "kind", "model", "method", "title", "tags", "status"]
    assert [line.split()[0] for line in lines[2:]] == ["3", "2", "1"]
    assert "Nurse prompt" in lines[4] and "keep" in lines[4] and "shapley" in lines[4]
    assert "done (1 notes)" in lines[2] and "failed" in lines[3] and "…" in lines[3]
    assert main_runs(["list", "--tag", "keep"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]] == ["1"]
    assert main_runs(["list", "--kind", "few_shot"]) == 0
    assert capsys.readouterr().out.strip() == "No saved runs match."


def test_show(repo: RunRepository, capsys) -> None:
    assert main_runs(["show", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Run 3: Bias probe") and "[concern] Ada: Look at the city." in out
    assert main_runs(["show", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == {"y": [1, 2]}
    assert main_runs(["show", "42"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip().startswith("There is no saved run with id 42")
    assert "Traceback" not in captured.err


def test_export_import_and_delete(repo: RunRepository, tmp_path, capsys, monkeypatch) -> None:
    target = tmp_path / "two.json"
    assert main_runs(["export", "1", "3", "-o", str(target)]) == 0
    assert "Exported 2 run(s)" in capsys.readouterr().err
    assert main_runs(["import", str(target)]) == 0
    assert capsys.readouterr().out.strip() == "Imported 2 run(s): ids 4, 5."
    assert repo.get_run(5).notes[0].text == "Look at the city."
    assert main_runs(["export", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(doc)))
    assert main_runs(["import", "-"]) == 0
    assert repo.get_run(6).error == "Out of memory."
    capsys.readouterr()

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no question asked
    assert main_runs(["delete", "6"]) == 1
    assert "--yes" in capsys.readouterr().err
    assert main_runs(["delete", "6", "--yes"]) == 0
    assert repo.count() == 5


def test_errors_are_sentences(repo: RunRepository, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main_runs(["import", str(bad)]) == 1
    assert "is not valid JSON" in capsys.readouterr().err
    bad.write_text(json.dumps({"runs": []}))
    assert main_runs(["import", str(bad)]) == 1
    assert "not a WhyLM export" in capsys.readouterr().err
    assert main_runs(["import", str(tmp_path / "missing.json")]) == 1
    assert "Cannot read" in capsys.readouterr().err
    assert main_runs(["show", "x"]) == 2
    assert "invalid int value" in capsys.readouterr().err
    assert main_runs([]) == 2
    assert main_runs(["export", "1", "99"]) == 1
    assert "no saved run with id 99" in capsys.readouterr().err
    assert repo.count() == 3
