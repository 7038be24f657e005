"""Two processes saving into one database at once: every run arrives, whole."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.store import RunRepository

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS_PER_PROCESS = 200

WRITER = textwrap.dedent(
    """
    import sys
    from core.store import RunRepository

    url, writer, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    repo = RunRepository(url)
    for i in range(n):
        spec = {"model": "m", "writer": writer, "i": i, "prompt": {"text": "x" * (i % 50)}}
        result = {"writer": writer, "i": i, "values": [i / 7, -i, None], "meta": {"seconds": i / 10}}
        run_id = repo.save_run("attribution", f"{writer}-{i}", spec, result, tags=[writer, f"n{i % 3}"])
        if i % 20 == 0:  # a read followed by a write in one transaction
            repo.add_note(run_id, writer, "ok", f"note {i}")
            repo.set_tags(run_id, [writer, f"n{i % 3}", "noted"])
    print("done", writer)
    """
)


@pytest.fixture()
def sqlite_file(tmp_path: Path) -> Path:
    """The SQLite database of ``store_url`` (tests/conftest.py) here: in a folder that does not exist yet."""
    return tmp_path / "data" / "whylm.db"


def test_two_processes_save_concurrently(store_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # Both start on a database that does not exist yet, so they also race to create it.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_url, name, str(RUNS_PER_PROCESS)],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in ("alpha", "beta")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.startswith("done")

    repo = RunRepository(store_url)
    assert repo.count() == 2 * RUNS_PER_PROCESS
    runs = repo.list_runs()
    assert len({r.id for r in runs}) == 2 * RUNS_PER_PROCESS
    for writer in ("alpha", "beta"):
        mine = repo.list_runs(tag=writer)
        assert sorted(r.title for r in mine) == sorted(f"{writer}-{i}" for i in range(RUNS_PER_PROCESS))
        assert len(repo.list_runs(tag="noted", text=writer)) == RUNS_PER_PROCESS // 20
    for summary in runs:
        record = repo.get_run(summary.id)
        writer, i = record.title.split("-")
        i = int(i)
        assert record.spec == {"model": "m", "writer": writer, "i": i, "prompt": {"text": "x" * (i % 50)}}
        assert record.result == {"writer": writer, "i": i, "values": [i / 7, -i, None], "meta": {"seconds": i / 10}}
        assert record.seconds == i / 10
        assert len(record.notes) == (1 if i % 20 == 0 else 0)
