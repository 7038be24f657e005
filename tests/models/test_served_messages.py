"""Issue 23, point 12: minor messages. Names that differ only by invisible characters read differently;
an import names a few ids, not ten thousand; a folder that holds no model reads as a missing one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ModelLoadError, SpecError
from core.models.loading import load_model
from core.store.cli import main_runs
from core.text import id_list, visible


def test_groups_that_differ_by_a_zero_width_space_read_differently() -> None:
    from core.engine import validate

    spec = {"kind": "bias", "template": "The {name} was", "sweep": {"slots": ["name"], "groups": {
        "female": ["Ann", "Eve"], "fe\u200bmale": ["Bob", "Tom"]}}, "candidates": [" a"],
        "compare": ["female", "female"]}
    with pytest.raises(SpecError) as info:
        validate(spec)
    said = str(info.value)
    assert "female, fe\\u200bmale" in said and "\u200b" not in said
    assert visible("female") == "female" and visible("a\u202eb\u00a0c") == "a\\u202eb\\u00a0c"


def test_an_import_message_names_three_ids_and_counts_the_rest(capsys, tmp_path: Path) -> None:
    (tmp_path / "runs.json").write_text("{}", encoding="utf-8")
    ids = list(range(1, 10_001))
    assert main_runs(["--url", f"sqlite:///{tmp_path / 'x.db'}", "import", str(tmp_path / "runs.json")],
                     importer=lambda repo, doc: ids) == 0
    assert capsys.readouterr().out.strip() == "Imported 10,000 run(s): ids 1, 2, 3 ... and 9,997 more."
    assert id_list([4, 5]) == "4, 5"


def test_a_folder_that_holds_no_model_reads_as_a_missing_one(tmp_path: Path) -> None:
    said = []
    (tmp_path / "empty").mkdir()
    (tmp_path / "config-only").mkdir()
    (tmp_path / "config-only" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    for name in ("missing", "empty", "config-only"):
        with pytest.raises(ModelLoadError) as info:
            load_model(str(tmp_path / name))
        said.append(str(info.value).replace(name, "NAME"))
    assert said[0] == said[1] == said[2], said
