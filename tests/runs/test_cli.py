"""The command line: a result on stdout, a sentence naming the field on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path = ROOT, env_dir: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if env_dir is not None:
        env["WHYLM_DATA_DIR"] = str(env_dir)
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.slow
def test_run_prints_result_json_and_saves(tmp_path):
    spec = json.loads((ROOT / "examples" / "tutorial.json").read_text())
    spec["method"] = {"name": "feature_ablation"}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = _cli("run", str(path), "--save", "--quiet", env_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["features"] == ["Dave", "Palm Coast", "FL", "lawyer", "His"]
    assert len(result["seq_attr"]) == 5
    # the full prompt, each feature removed alone, and every feature removed (score_none)
    assert result["meta"]["forward_passes"] == 7
    listing = _cli("runs", "list", env_dir=tmp_path / "data")
    assert listing.returncode == 0
    assert "feature_ablation" in listing.stdout


@pytest.mark.slow
def test_bad_spec_exits_nonzero_with_a_sentence(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"prompt": {"template": "{name} is", "values": {}}, "target": {"text": "x"}}))
    out = _cli("run", str(path))
    assert out.returncode != 0
    assert "prompt.values.name" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_broken_json_and_missing_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    out = _cli("run", str(path))
    assert out.returncode != 0 and "not valid JSON" in out.stderr and "Traceback" not in out.stderr
    out = _cli("run", str(tmp_path / "missing.json"))
    assert out.returncode != 0 and "no spec file" in out.stderr
