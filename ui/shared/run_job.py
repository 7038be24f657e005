"""Long runs without freezing the page: a background thread, a progress bar, a Stop button.

A page calls :func:`start_run` when its Run button is pressed and
:func:`follow_run` on every script run. The run lives in a thread whose
state is kept in ``st.session_state``, so it survives reruns (changing a
widget while it runs does not restart it). The script polls it with short
sleeps, showing forward passes done, time left and a Stop button; Stop sets a
``threading.Event`` that the engine polls between batches (``Cancelled``).
Runs of all tabs share the loaded model batch by batch (``core.models.sharing``):
a run waiting for its turn shows how many runs go before it, and a run bigger
than the server's work limit (``WHYLM_MAX_FORWARD_PASSES``, see
``core.runs.limit``) is refused before its first batch with a sentence.
Every job of the server is in ``ui.shared.job_registry``'s registry: the "Running now"
list (:func:`running_now`, in the sidebar and on Saved runs) shows each with its
title, time and progress and lets anyone stop it; a job no open tab has shown for
``WHYLM_ORPHAN_TIMEOUT_S`` (default 2 min) stops itself and is saved as stopped; a
saved job that a dying server cut off is saved as "interrupted" after the restart.
Finished runs (done, failed or stopped) are saved to the run store from the
thread, with ``core.runs.saved.save_run`` as ``python -m core run --save`` saves them
(the normalised spec and the result in its current format), and the result dict
lands in ``st.session_state[result_key]``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from core.errors import Cancelled, WhyLMError
from core.kinds import progress_words
from core.models.loading import LoadedModel
from core.models.sharing import ModelShare
from core.runs.limit import dashboard_max_forward_passes, dashboard_max_work_tokens, limited, refusal
from core.runs.saved import check_can_save, save_run, title_for
from core.store import RunRepository
from core.store.config import data_dir
from core.text import first_line
from ui.shared.errors import error_sentence, show_error
from ui.shared.job_registry import JobJournal, JobRegistry, interrupted_reason, orphan_seconds
from ui.shared.markdown import escape_markdown
from ui.shared.model import current_model
from ui.shared.store import open_store

log = logging.getLogger("whylm.dashboard")

RunFunction = Callable[..., Any]


@dataclass
class RunJob:
    """One run in a background thread: its spec, progress, outcome and save status."""

    spec: dict[str, Any]
    title: str
    tags: list[str]
    save: bool
    stop_event: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    first_progress: float | None = None
    status: str = "running"  # running, done, failed, stopped
    result: dict[str, Any] | None = None
    error: str | None = None
    run_id: int | None = None
    save_error: str | None = None
    thread: threading.Thread | None = None
    share: ModelShare | None = None
    shown_eta: tuple[float, float] | None = None  # (seconds left said, when it was said)
    job_id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    stop_reason: str | None = None  # why it was stopped, when not by its own Stop button
    partial: dict[str, Any] | None = None  # a first result the run handed over while it goes on

    def stop(self, reason: str | None = None) -> None:
        """Ask the run to stop after its current batch (``reason``: the sentence it is saved with)."""
        if reason and not self.stop_event.is_set():
            self.stop_reason = reason
        self.stop_event.set()

    def progress(self, done: int, total: int) -> None:
        """Engine callback: work done so far, out of total (forward passes, or the kind's own unit)."""
        if self.first_progress is None:
            self.first_progress = time.monotonic()
        self.done, self.total = int(done), int(total)

    def should_stop(self) -> bool:
        """Engine callback: True once Stop was pressed."""
        return self.stop_event.is_set()

    @property
    def running(self) -> bool:
        """Whether the thread is still working."""
        return self.thread is not None and self.thread.is_alive()

    def place(self) -> int | None:
        """Runs going before this one for the model: 0 while it has the model, None between turns."""
        if self.share is None or self.thread is None or self.thread.ident is None:
            return None
        return self.share.place(self.thread.ident)

    def eta_seconds(self) -> float | None:
        """Estimated seconds left, from the pace of the work so far."""
        if not self.done or not self.total or self.first_progress is None:
            return None
        elapsed = time.monotonic() - self.first_progress
        return elapsed / self.done * max(self.total - self.done, 0)

    def eta_words(self) -> str:
        """ ", about 20 s left", never a time that grows: a larger estimate says it is re-estimating."""
        eta = self.eta_seconds()
        if eta is None:
            return ""
        now = time.monotonic()
        if self.shown_eta is not None:
            counted_down = max(self.shown_eta[0] - (now - self.shown_eta[1]), 0.0)
            if eta > counted_down * 1.1 + 1:  # slower than said (another run took turns, say)
                self.shown_eta = (eta, now)
                return f", re-estimating: about {_format_seconds(eta)} left"
        self.shown_eta = (eta, now)
        return f", about {_format_seconds(eta)} left"


class _JobProgress:
    """The progress callback a job's run is handed: forward passes done, and a first result (a result dict the
    runner hands to ``partial`` while it goes on: the document probe's paragraphs) that the page draws."""

    def __init__(self, job: RunJob) -> None:
        self.job = job

    def __call__(self, done: int, total: int) -> None:
        self.job.progress(done, total)

    def partial(self, result: dict[str, Any]) -> None:
        """Keep the run's result so far for :func:`follow_run` to draw."""
        self.job.partial = result


KEPT_FIRST_RESULT = (
    "Its first result, from before the stop, is kept below: it is not the final one (its notes say what it rests on)."
)


def _describe_failure(exc: BaseException) -> str:
    """A sentence for a run that failed (never a traceback)."""
    if isinstance(exc, WhyLMError):
        return error_sentence(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return (
            "The model ran out of memory; shorten the prompt or the target, or lower the number of samples."
        )
    return f"The run failed inside WhyLM ({type(exc).__name__}: {first_line(exc)}); check the inputs and try again."


def _run_shared(job: RunJob, lm: LoadedModel, run_fn: RunFunction) -> Any:
    """The job's run, as one of the runs sharing the model, under the server's work limit."""
    with lm.lock.job(), limited(job.spec, dashboard_max_forward_passes(), dashboard_max_work_tokens(), lm):
        return run_fn(job.spec, progress=_JobProgress(job), should_stop=job.should_stop, lm=lm)


def _work(job: RunJob, lm: LoadedModel, repo: RunRepository | None, run_fn: RunFunction) -> None:
    try:
        outcome = _run_shared(job, lm, run_fn)
        job.result = outcome.to_dict() if hasattr(outcome, "to_dict") else dict(outcome)
        job.status = "done"
    except Cancelled as exc:
        job.status, job.error = "stopped", job.stop_reason or str(exc)
        if job.partial is not None:  # a first result the run had handed over is kept, shown and saved
            job.result = job.partial
            job.error = f"{job.error.rstrip('.')}. {KEPT_FIRST_RESULT}"
    except Exception as exc:  # noqa: BLE001 - shown as a sentence
        log.exception("run failed")
        job.status, job.error = "failed", _describe_failure(exc)
    if job.save and repo is not None:
        try:
            # saved as the command line saves it: the normalised spec, the current result format
            job.run_id = save_run(
                repo,
                job.spec,
                job.result,
                title=job.title,
                tags=job.tags,
                status=job.status,
                error=job.error,
            )
        except WhyLMError as exc:
            job.save_error = str(exc)
        except Exception as exc:  # noqa: BLE001
            job.save_error = f"The run could not be saved ({type(exc).__name__}); the result is shown below."
    if JOBS.journal is not None:
        JOBS.journal.remove(job.job_id)


def _session_id() -> str | None:
    """The browser session running this script (None outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return getattr(ctx, "session_id", None)


def _session_alive(session_id: str) -> bool | None:
    """Whether a browser session is still connected (its tab open); None without a Streamlit server."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    alive = Runtime.instance().is_active_session(session_id)
    return alive if isinstance(alive, bool) else None  # AppTest's stand-in runtime answers a mock


# Jobs of this server by id: a page reloaded in the middle of a run (a new browser session) finds its
# job again through the address bar (``?job=ID``, see ``ui.shared.links``); "Running now" lists them; the
# watchdog stops those no tab shows any more.
JOBS = JobRegistry(session_alive=_session_alive)


def _register(job: RunJob) -> None:
    JOBS.add(job, _session_id())


def find_job(job_id: str) -> RunJob | None:
    """The job with this id started on this server (running, or finished recently), or None."""
    job = JOBS.get(job_id)
    return job if isinstance(job, RunJob) else None


def _database_key(repo: RunRepository) -> str:
    """Which database a journal file's run belongs in, without writing its URL (it may hold a password)."""
    return hashlib.sha256(repo.url.encode("utf-8")).hexdigest()[:16]


def _save_interrupted(repo: RunRepository, doc: dict[str, Any]) -> None:
    """Save a run a dead server left in its journal, as "interrupted"."""
    save_run(
        repo,
        doc.get("spec") or {},
        None,
        title=str(doc.get("title") or ""),
        tags=list(doc.get("tags") or []),
        status="interrupted",
        error=interrupted_reason(doc),
    )


_RECOVER_INTO: list[RunRepository] = []  # the store the watchdog saves interrupted runs in (the latest seen)


def _recover_interrupted() -> None:
    """Watchdog tick: runs a dead server left in the journal are saved as "interrupted" in the store."""
    if _RECOVER_INTO and JOBS.journal is not None:
        repo = _RECOVER_INTO[-1]
        JOBS.journal.recover(lambda doc: _save_interrupted(repo, doc), _database_key(repo))


def watch_jobs(repo: RunRepository | None) -> None:
    """Start (once) the watchdog: orphaned jobs stopped, runs a dead server left saved as interrupted."""
    if JOBS.journal is None:
        JOBS.journal = JobJournal(data_dir() / "jobs")
    if repo is not None and (not _RECOVER_INTO or _RECOVER_INTO[-1] is not repo):
        _RECOVER_INTO[:] = [repo]
    JOBS.start_watchdog(on_tick=_recover_interrupted)


def start_run(
    job_key: str,
    spec: dict[str, Any],
    lm: LoadedModel,
    repo: RunRepository | None,
    title: str = "",
    tags: list[str] | None = None,
    save: bool = True,
    run_fn: RunFunction | None = None,
) -> RunJob:
    """Start ``run_fn(spec, progress=, should_stop=, lm=)`` (default ``core.engine.run``) in a thread.

    The job is stored in ``st.session_state[job_key]``; call :func:`follow_run`
    with the same key to show its progress and collect its result. A job
    already running under that key is left alone and returned.
    """
    current = st.session_state.get(job_key)
    if isinstance(current, RunJob) and current.running:
        return current
    if run_fn is None:
        from core.engine import run as run_fn
    job = RunJob(spec=spec, title=title, tags=list(tags or []), save=save and repo is not None, share=lm.lock)
    job.thread = threading.Thread(
        target=_work, args=(job, lm, repo, run_fn), name=f"whylm-{job_key}", daemon=True
    )
    st.session_state[job_key] = job
    _register(job)
    watch_jobs(repo)
    if job.save and repo is not None and JOBS.journal is not None:
        JOBS.journal.write(job, _database_key(repo), job.tags)
    job.thread.start()
    return job


def _format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


def follow_run(
    job_key: str,
    result_key: str,
    poll_seconds: float = 0.1,
    partial_view: Callable[[dict[str, Any]], None] | None = None,
) -> RunJob | None:
    """Show a running job's progress (with Stop) until it ends; then store its outcome.

    ``partial_view`` draws a first result the run hands over while it goes on (under the progress
    bar, replaced by each newer one; gone once the run ends and its result is drawn).

    On completion ``st.session_state[result_key]`` holds the result dict (when
    there is one) and ``st.session_state[result_key + "_outcome"]`` a dict with
    status, error, run_id and save_error, which :func:`show_outcome` displays.
    Returns the finished job, or None when there was nothing to follow.
    """
    job = st.session_state.get(job_key)
    if not isinstance(job, RunJob):
        return None
    if job.running:
        slot = st.empty()
        with slot.container(border=True):
            bar = st.progress(0.0, text="Starting…")
            if st.button("Stop", key=f"{job_key}_stop", help="Stop the run after the current batch."):
                job.stop_event.set()
            session = _session_id()
            early, drawn = st.empty(), None
            while job.running:
                JOBS.beat(job.job_id, session)  # this tab shows the job: it is not orphaned
                bar.progress(*_progress_text(job))
                if partial_view is not None and job.partial is not drawn:
                    drawn = job.partial
                    with early.container():
                        partial_view(drawn)
                time.sleep(poll_seconds)
        slot.empty()
    st.session_state.pop(job_key, None)
    if job.result is not None:
        st.session_state[result_key] = job.result
    else:  # a failed or stopped run leaves no result; do not show an older one under its error
        st.session_state.pop(result_key, None)
    st.session_state[f"{result_key}_outcome"] = {
        "status": job.status,
        "error": job.error,
        "run_id": job.run_id,
        "save_error": job.save_error,
        "saved": job.save,
    }
    return job


def _runs(count: int) -> str:
    return "1 other run" if count == 1 else f"{count} other runs"


def _progress_text(job: RunJob, with_eta: bool = True) -> tuple[float, str]:
    """The progress bar's fraction and words: waiting for the model, preparing, or the work done (forward
    passes, or the kind's words: ``core.kinds.progress_words``) and the time left."""
    elapsed = time.monotonic() - job.started
    fraction = job.done / job.total if job.total else 0.0
    if job.stop_event.is_set():
        return fraction, "Stopping after the current batch…"
    place = job.place()
    others = max((job.share.runs() if job.share is not None else 1) - 1, 0)
    if not job.total:
        if place:
            return 0.0, f"Waiting for {_runs(place)} to take their turn with the model… {elapsed:.0f} s"
        if others and place != 0:
            return 0.0, f"Waiting for another run: {_runs(others)} using the model now… {elapsed:.0f} s"
        return 0.0, f"Preparing (tokenising, generating the target)… {elapsed:.0f} s"
    left = job.eta_words() if with_eta else ""  # only the tab following the run counts its time down
    waiting = f"; waiting for {_runs(place)} to take their turn" if place else ""
    return fraction, f"{progress_words(job.spec, job.done, job.total)}{left}{waiting}"


def _running_line(job: RunJob) -> str:
    """One job of "Running now" in words: its title, how long it has run, its progress."""
    title = job.title.strip() or title_for(job.spec)
    elapsed = _format_seconds(time.monotonic() - job.started)
    return f"**{escape_markdown(title)}** · {elapsed} · {escape_markdown(_progress_text(job, with_eta=False)[1])}"


def running_now(where: str) -> None:
    """The "Running now" list: every run in progress on this server (all tabs, all users), each with Stop.

    ``where`` ("sidebar" or "page") keeps the buttons' keys apart; the sidebar shows the list
    only while something runs, the page always.
    """
    repo, _ = open_store()
    watch_jobs(repo)  # a restarted server saves what its predecessor left running as "interrupted"
    jobs = JOBS.running()
    if where == "sidebar" and not jobs:
        return
    st.subheader("Running now")
    if not jobs:
        st.caption("No run is in progress on this server.")
        return
    st.caption(
        f"Runs in progress on this server, from every tab. A run whose tab has been closed for "
        f"{_format_seconds(orphan_seconds())} stops and is saved as stopped."
    )
    for job in jobs:
        if where == "sidebar":  # too narrow for a column beside the line: the button goes under it
            line = button = st.container()
        else:
            line, button = st.columns([4, 1], vertical_alignment="center")
        line.markdown(_running_line(job))
        if job.stop_event.is_set():
            button.caption("Stopping…")
        elif button.button(
            "Stop",
            key=f"running_{where}_stop_{job.job_id}",
            help="Stop this run after its current batch; it is saved as stopped.",
        ):
            job.stop("Stopped from the “Running now” list.")
            button.caption("Stopping…")


def show_outcome(result_key: str) -> None:
    """Sentences about the last run's outcome: stopped or failed, and where it was saved."""
    outcome = st.session_state.get(f"{result_key}_outcome")
    if not outcome:
        return
    if outcome["status"] == "failed":
        show_error(outcome["error"])
    elif outcome["status"] == "stopped":
        st.warning(outcome["error"] or "The run was stopped before it finished.")
    if outcome.get("save_error"):
        result = st.session_state.get(result_key)
        if result is None:
            show_error(outcome["save_error"])
        else:  # a failed save never throws a finished run away: it stays below, and can be downloaded
            show_error(
                f"The run finished but was not saved: {outcome['save_error']} Its result is shown below."
            )
            st.download_button(
                "Download the result (JSON)",
                data=json.dumps(result, indent=1, ensure_ascii=False),
                file_name=f"whylm-{result.get('kind', 'run')}-result.json",
                mime="application/json",
                key=f"{result_key}_download",
                on_click="ignore",
                help="The run's result as WhyLM computed it (numbers, spec and meta), to keep before you leave the page.",
            )
    elif outcome.get("run_id") is not None:
        st.caption(f"Saved as run {outcome['run_id']} ({outcome['status']}); find it under Saved runs.")


def _cannot_save(repo: RunRepository, title: str, tags: list[str]) -> str | None:
    """Why a run could not be saved in ``repo`` now (``core.runs.saved.check_can_save``), or None."""
    try:
        check_can_save(repo, title, tags)
    except WhyLMError as exc:
        return str(exc)
    return None


def launch_run(
    job_key: str,
    result_key: str,
    spec: dict[str, Any] | None,
    problem: str | None,
    save: bool,
    title: str,
    tags: list[str],
    run_fn: RunFunction | None = None,
) -> None:
    """Start a run on the sidebar's model, or show in a sentence why it cannot start."""
    if problem or spec is None:
        if problem:
            show_error(problem)
        return
    lm, model_error = current_model()
    if lm is None:
        show_error(model_error)
        return
    repo, store_error = open_store()
    if store_error and save:
        st.warning(store_error)
    unsaveable = _cannot_save(repo, title, tags) if save and repo is not None else None
    if unsaveable:  # said before the run is computed, not after it
        show_error(f"{unsaveable} Untick “Save the run” to run without saving.")
        return
    st.session_state.pop(f"{result_key}_outcome", None)
    start_run(job_key, spec, lm, repo, title=title, tags=tags, save=save, run_fn=run_fn)


def run_refusal(spec: dict[str, Any] | None) -> str | None:
    """Why Run is disabled for ``spec`` (``core.runs.limit.refusal``, with the sidebar's model once loaded)."""
    if spec is None:
        return None
    from ui.warm_up import loading_model

    lm = None if loading_model() else current_model()[0]
    try:
        return refusal(spec, lm)
    except WhyLMError as exc:  # a malformed limit setting: said when Run is pressed
        log.info("no refusal check: %s", exc)
        return None
