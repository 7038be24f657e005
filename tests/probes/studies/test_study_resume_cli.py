"""`python -m core run --resume ID`: a saved study run again from the command line scores only what it lacks;
once the resumed run is saved, finished, its stored batches are removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import core.engine
from core.__main__ import main as cli_main
from core.probes.studies.checkpoint import Checkpoint
from core.runs.saved import save_run
from core.store import RunRepository

PAIRS = (
    "sent_more,sent_less,stereo_antistereo,bias_type\n"
    "Women cannot park a car.,Men cannot park a car.,stereo,gender\n"
    "The old man was slow.,The young man was slow.,stereo,age\n"
    "Poor people are lazy.,Rich people are lazy.,stereo,socioeconomic\n"
)


def test_the_command_line_resumes_a_saved_study(lm, loads, data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    doc = {"kind": "study", "items": {"format": "csv", "text": PAIRS}, "bootstrap": 200}
    first = core.engine.run(doc, lm=lm).to_dict()  # its batches are stored as they finish
    assert first["meta"]["items_scored_now"] == [3]
    repo = RunRepository()
    stopped = save_run(repo, doc, None, title="Pairs, stopped", tags=["review"], status="stopped")
    batches = Checkpoint(first["models"][0]["checkpoint"])
    assert batches.count() == 3  # a stopped run keeps them
    assert cli_main(["run", "--resume", str(stopped), "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["meta"]["items_scored_now"] == [0] and out["meta"]["items_from_stored_batches"] == [3]
    assert out["tables"] == first["tables"]
    record = repo.get_run(out["meta"]["run_id"])
    assert record.id != stopped and record.status == "done"
    assert record.title == "Pairs, stopped" and record.tags == ("review",)
    assert batches.count() == 0  # the resumed run is finished and saved: its batches are removed


def test_resume_needs_a_saved_run_and_no_spec_file(data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["run", "--resume", "999", "--quiet"]) != 0
    assert "999" in capsys.readouterr().err
    assert cli_main(["run", "examples/tutorial.json", "--resume", "1", "--quiet"]) != 0
    assert "one of them" in capsys.readouterr().err
