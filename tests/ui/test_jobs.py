"""No orphan jobs (issue 22, point 7): every run in progress is listed, stoppable, and stops when no tab shows it.

The registry runs on a clock the tests move by hand; the page tests run the real Explain
and Saved runs pages under AppTest, with a stand-in engine that runs until it is stopped.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.store import RunRepository
from tests.page_support import APP, no_exception
from ui.shared.job_registry import STALE_JOURNAL_SECONDS, JobJournal, JobRegistry, orphan_seconds

TIMEOUT = 120


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Job:
    """A job as the registry sees it: running until stopped."""

    def __init__(self, job_id: str, title: str = "t") -> None:
        self.job_id, self.title, self.spec = job_id, title, {"kind": "attribution"}
        self.started, self.done, self.total = 0.0, 0, 0
        self.stopped_with: str | None = None

    @property
    def running(self) -> bool:
        return self.stopped_with is None

    def stop(self, reason: str | None = None) -> None:
        self.stopped_with = reason or "stopped"


def test_a_job_unseen_for_the_timeout_stops_itself_and_a_seen_one_runs_on() -> None:
    clock = _Clock()
    jobs = JobRegistry(clock=clock, timeout=120)
    shown, closed = _Job("shown"), _Job("closed")
    jobs.add(shown, "tab-1")
    jobs.add(closed, "tab-2")
    for _ in range(5):  # 5 x 30 s: the first tab keeps polling, the second is gone
        clock.now += 30
        jobs.beat("shown", "tab-1")
        assert jobs.sweep() == ([closed] if clock.now - 1000 > 120 else [])
    assert shown.running and not closed.running
    assert "no open page had shown this run for 2 min" in closed.stopped_with
    assert [j.job_id for j in jobs.running()] == ["shown"]
    clock.now += 119  # just under the timeout: still running
    assert jobs.sweep() == [] and shown.running
    clock.now += 2
    assert jobs.sweep() == [shown]


def test_a_connected_tab_on_another_page_keeps_its_job_alive() -> None:
    clock = _Clock()
    connected = {"tab-1": True}
    jobs = JobRegistry(clock=clock, timeout=60, session_alive=lambda s: connected.get(s))
    job = _Job("j")
    jobs.add(job, "tab-1")
    clock.now += 600  # its progress loop stopped (the user went to Saved runs), the tab is still open
    assert jobs.sweep() == [] and job.running
    connected["tab-1"] = False  # the tab is closed
    clock.now += 59
    assert jobs.sweep() == []
    clock.now += 2
    assert jobs.sweep() == [job]


def test_finished_jobs_beyond_the_kept_number_are_forgotten_running_ones_never() -> None:
    jobs = JobRegistry(clock=_Clock(), timeout=60, kept=2)
    running = [_Job(f"r{i}") for i in range(3)]
    for job in running:
        jobs.add(job)
    finished = [_Job(f"f{i}") for i in range(3)]
    for job in finished:
        job.stop()
        jobs.add(job)
    assert all(jobs.get(j.job_id) is j for j in running)
    assert [j.job_id for j in finished if jobs.get(j.job_id)] == ["f1", "f2"]


def test_the_orphan_timeout_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHYLM_ORPHAN_TIMEOUT_S", "5")
    assert orphan_seconds() == 5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("WHYLM_ORPHAN_TIMEOUT_S", bad)
        assert orphan_seconds() == 120
    monkeypatch.delenv("WHYLM_ORPHAN_TIMEOUT_S")
    assert orphan_seconds() == 120


def test_a_run_left_by_a_dead_server_is_saved_as_interrupted(tmp_path: Path) -> None:
    from ui.shared.run_job import _save_interrupted

    repo = RunRepository(f"sqlite:///{tmp_path / 'whylm.db'}")
    journal = JobJournal(tmp_path / "jobs")
    job = _Job("cut-off", title="Long study")
    job.spec = {"kind": "attribution", "model": "default", "prompt": {"text": "Hi", "granularity": "word"}}
    journal.write(job, "db-1", ["team"])
    path = tmp_path / "jobs" / "cut-off.json"
    doc = path.read_text(encoding="utf-8")
    path.write_text(doc.replace('"process": "', '"process": "dead-'), encoding="utf-8")  # another server's file
    saved: list[dict[str, Any]] = []
    assert journal.recover(saved.append, "db-1") == 0  # fresh: its server may still be running
    old = time.time() - STALE_JOURNAL_SECONDS - 5
    os.utime(path, (old, old))
    assert journal.recover(lambda d: _save_interrupted(repo, d), "other-db") == 0  # not this database's
    assert path.exists()
    os.utime(path, (old, old))
    assert journal.recover(lambda d: _save_interrupted(repo, d), "db-1") == 1
    assert not list((tmp_path / "jobs").iterdir())
    [summary] = repo.list_runs()
    record = repo.get_run(summary.id)
    assert (record.status, record.title, record.tags) == ("interrupted", "Long study", ("team",))
    assert record.error.startswith("Interrupted: the server stopped while this run was running")


def _until_stopped(spec: dict[str, Any], progress: Any = None, should_stop: Any = None, lm: Any = None) -> Any:
    """A stand-in engine: makes progress until it is told to stop."""
    from core.errors import Cancelled

    for done in range(10_000):
        progress(done, 10_000)
        if should_stop():
            raise Cancelled()
        time.sleep(0.02)
    raise AssertionError("never stopped")


def _wait(condition: Any, seconds: float = 20.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_job_whose_page_stops_polling_is_stopped_and_saved_as_stopped(
    data_dir: Path, lm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.engine
    from ui.shared.run_job import JOBS

    monkeypatch.setenv("WHYLM_ORPHAN_TIMEOUT_S", "1")
    monkeypatch.setattr(core.engine, "run", _until_stopped)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    no_exception(at)
    at.text_input(key="ex_title").input("Closed tab")
    before = {j.job_id for j in JOBS.running()}
    with pytest.raises(RuntimeError, match="timed out"):  # the page polls its job until the script is stopped
        at.button(key="ex_run").click().run(timeout=3)
    [job] = [j for j in JOBS.running() if j.job_id not in before]  # the tab is gone, its job runs on...
    assert job.title == "Closed tab"
    assert _wait(lambda: not job.running), "the orphaned job never stopped"  # ...for the timeout only
    assert job.status == "stopped" and job.run_id is not None
    record = RunRepository().get_run(job.run_id)
    assert (record.status, record.title) == ("stopped", "Closed tab")
    assert "no open page had shown this run" in record.error
    assert not list((data_dir / "jobs").glob("*.json"))  # the journal forgot it: it was saved


def test_running_now_lists_every_job_of_the_server_and_anyone_can_stop_one(data_dir: Path) -> None:
    from ui.shared.run_job import RunJob, _register

    job = RunJob(spec={"kind": "bias"}, title="Someone else's study", tags=[], save=False)
    job.done, job.total = 40, 200

    def work() -> None:
        while not job.stop_event.is_set():
            time.sleep(0.02)
        job.status, job.error = "stopped", job.stop_reason

    job.thread = threading.Thread(target=work, daemon=True)
    job.thread.start()
    _register(job)
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        no_exception(at)
        assert any("Someone else" in m.value for m in at.sidebar.markdown)  # the sidebar of every page
        at.switch_page("pages/saved_runs.py").run()
        no_exception(at)
        listed = [m.value for m in at.main.markdown if "Someone else" in m.value]
        assert listed and "40 of 200 forward passes" in listed[0], [m.value for m in at.main.markdown]
        at.button(key=f"running_page_stop_{job.job_id}").click().run()
        assert _wait(lambda: not job.running)
        assert job.error == "Stopped from the “Running now” list."
        at.run()
        assert not any("Someone else" in m.value for m in at.main.markdown)
        assert any("No run is in progress" in c.value for c in at.main.caption)
    finally:
        job.stop_event.set()


def test_a_documents_run_stopped_after_its_first_result_keeps_and_saves_it(data_dir: Path, lm: Any) -> None:
    """Stop once the paragraphs are measured: the first result is shown (the job's result) and saved as stopped."""
    from core.probes.documents.run import run_documents
    from tests.attribution.test_hostile_inputs import readable
    from tests.probes.documents.test_first_result import SMALL
    from ui.shared.run_job import KEPT_FIRST_RESULT, RunJob, _work

    job = RunJob(spec=SMALL, title="Stopped at the paragraphs", tags=[], save=True)

    def run_fn(spec: dict[str, Any], progress: Any, should_stop: Any, lm: Any) -> Any:
        return run_documents(spec, lm=lm, progress=progress, should_stop=lambda: job.partial is not None)

    repo = RunRepository()
    _work(job, lm, repo, run_fn)
    assert job.status == "stopped" and job.result is job.partial
    assert job.result["notes"][0].startswith("First result") and KEPT_FIRST_RESULT in job.error
    record = repo.get_run(job.run_id)
    assert (record.status, record.title) == ("stopped", "Stopped at the paragraphs")
    assert record.result is not None and record.result["sources"] == job.result["sources"]
    assert record.error.startswith("The run was stopped before it finished.") and KEPT_FIRST_RESULT in record.error
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()  # reopened on Saved runs: the sentence above it
    at.query_params["run"] = str(job.run_id)
    at.switch_page("pages/saved_runs.py").run()
    no_exception(at)
    assert any(KEPT_FIRST_RESULT in readable(w.value) for w in at.main.warning)
    assert any(job.result["summary"] in readable(m.value) for m in [*at.main.markdown, *at.main.info])
