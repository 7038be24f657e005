"""Every run in progress on this server, so none is orphaned: seen, stoppable, stopped when nobody watches.

A page's run is a background job (``ui.shared.run_job``). The registry keeps every job
of this process by id, and:

- **heartbeats**: a tab that shows a job (its progress loop, or the tab that started it
  while that tab is still open, even on another page) marks it seen
  (:meth:`JobRegistry.beat`); :meth:`JobRegistry.sweep` stops a running job not seen for
  :func:`orphan_seconds` (``WHYLM_ORPHAN_TIMEOUT_S``, default 120 s), which is then
  saved as stopped, with the reason;
- **the "Running now" list**: :meth:`JobRegistry.running` gives every running job,
  with its title, time and progress, for any user to see and stop;
- **a journal** (:class:`JobJournal`): a saved job writes one small file in the data
  folder while it runs; a file left behind by a server that died (not refreshed for
  :data:`STALE_JOURNAL_SECONDS`) becomes a saved run with status "interrupted".

Nothing here imports streamlit: the registry runs on a clock it is given, so a test can
move time by hand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.kinds import progress_words

log = logging.getLogger("whylm.jobs")

ORPHAN_TIMEOUT_ENV = "WHYLM_ORPHAN_TIMEOUT_S"
DEFAULT_ORPHAN_SECONDS = 120.0
SWEEP_SECONDS = 2.0
"""How often the watchdog thread sweeps (and refreshes the journal)."""
STALE_JOURNAL_SECONDS = 30.0
"""A journal file not refreshed for this long belongs to a server that is gone."""
KEPT_JOBS = 64
"""Finished jobs kept (for a reloaded page to find its outcome); running ones are always kept."""
PROCESS = secrets.token_hex(6)
"""This server process, as its journal files name it."""


def orphan_seconds() -> float:
    """Seconds a running job may go unseen before it stops itself: ``$WHYLM_ORPHAN_TIMEOUT_S`` (default 120)."""
    raw = (os.environ.get(ORPHAN_TIMEOUT_ENV) or "").strip()
    try:
        value = float(raw) if raw else DEFAULT_ORPHAN_SECONDS
    except ValueError:
        value = DEFAULT_ORPHAN_SECONDS
    return value if value > 0 else DEFAULT_ORPHAN_SECONDS


def orphan_reason(seconds: float) -> str:
    """The sentence a job stopped for want of a viewer is saved with."""
    return (
        f"Stopped by the server: no open page had shown this run for {_duration(seconds)} "
        "(its tab was closed). Run it again to finish it."
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


class Job(Protocol):
    """What the registry needs of a job (``ui.shared.run_job.RunJob``)."""

    job_id: str
    title: str
    spec: dict[str, Any]
    started: float
    done: int
    total: int

    @property
    def running(self) -> bool: ...

    def stop(self, reason: str | None = None) -> None: ...


@dataclass
class _Entry:
    job: Job
    seen: float
    sessions: set[str]


class JobRegistry:
    """The jobs of this server by id, with when each was last seen and by which browser sessions.

    Args:
        clock: seconds, monotonic (``time.monotonic``; a test passes its own).
        timeout: seconds unseen before a running job is stopped (None: :func:`orphan_seconds` when swept).
        session_alive: whether a browser session id is still connected (None for unknown);
            a running job one of whose sessions is connected counts as seen.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        timeout: float | None = None,
        session_alive: Callable[[str], bool | None] | None = None,
        kept: int = KEPT_JOBS,
    ) -> None:
        self.clock = clock
        self.timeout = timeout
        self.session_alive = session_alive
        self.kept = kept
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._watchdog: threading.Thread | None = None
        self.journal: JobJournal | None = None

    def add(self, job: Job, session: str | None = None) -> None:
        """Register a job (seen now, by ``session`` when given); forget the oldest finished jobs beyond ``kept``."""
        with self._lock:
            self._entries[job.job_id] = _Entry(job, self.clock(), {session} if session else set())
            finished = [k for k, e in self._entries.items() if not e.job.running]
            for key in finished[: max(len(finished) - self.kept, 0)]:
                del self._entries[key]

    def get(self, job_id: str) -> Job | None:
        """The job with this id (running, or finished recently), or None."""
        with self._lock:
            entry = self._entries.get(job_id)
        return entry.job if entry else None

    def beat(self, job_id: str, session: str | None = None) -> None:
        """A page shows this job now (``session``: the browser session showing it, which then counts while connected)."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is not None:
                entry.seen = self.clock()
                if session:
                    entry.sessions.add(session)

    def running(self) -> list[Job]:
        """Every running job, oldest first."""
        with self._lock:
            jobs = [e.job for e in self._entries.values() if e.job.running]
        return sorted(jobs, key=lambda j: j.started)

    def sweep(self) -> list[Job]:
        """Stop every running job unseen for longer than the timeout; return those stopped now."""
        timeout = self.timeout if self.timeout is not None else orphan_seconds()
        with self._lock:
            entries = [e for e in self._entries.values() if e.job.running]
        now = self.clock()
        stopped = []
        for entry in entries:
            if self.session_alive is not None and any(self.session_alive(s) for s in list(entry.sessions)):
                entry.seen = now  # its tab is open (on another page, say): a user can still see it
            if now - entry.seen > timeout:
                entry.job.stop(orphan_reason(timeout))
                stopped.append(entry.job)
                log.warning(
                    "stopped run %s (%r): no page showed it for %.0f s",
                    entry.job.job_id,
                    entry.job.title,
                    now - entry.seen,
                )
        if self.journal is not None:
            self.journal.refresh([e.job for e in entries if e.job.running])
        return stopped

    def start_watchdog(self, every: float = SWEEP_SECONDS, on_tick: Callable[[], None] | None = None) -> None:
        """Sweep every ``every`` seconds in a daemon thread (once per registry); ``on_tick`` runs after each sweep."""
        with self._lock:
            if self._watchdog is not None and self._watchdog.is_alive():
                return
            self._watchdog = threading.Thread(
                target=self._watch, args=(every, on_tick), name="whylm-job-watchdog", daemon=True
            )
            self._watchdog.start()

    def _watch(self, every: float, on_tick: Callable[[], None] | None) -> None:
        while True:
            try:
                self.sweep()
                if on_tick is not None:
                    on_tick()
            except Exception:  # noqa: BLE001 - the watchdog must outlive one bad sweep
                log.exception("job watchdog sweep failed")
            time.sleep(every)


# ---------------------------------------------------------------- the journal: runs a dead server left


class JobJournal:
    """One file per saved job while it runs (``<folder>/<job id>.json``), so a restart knows what was cut off.

    Files are refreshed by their process on every sweep; a file not refreshed for
    :data:`STALE_JOURNAL_SECONDS` (its server died) is recovered: saved as an
    "interrupted" run in the database it was meant for, then removed.
    """

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder)
        self.clock = clock

    def _path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def write(self, job: Job, database: str, tags: list[str]) -> None:
        """Note a saved job as running (its spec, title and tags, the database it will be saved in)."""
        doc = {
            "process": PROCESS,
            "database": database,
            "spec": job.spec,
            "title": job.title,
            "tags": tags,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "done": job.done,
            "total": job.total,
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self._path(job.job_id).with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self._path(job.job_id))
        except (OSError, TypeError, ValueError) as exc:  # a read-only data folder: runs still run
            log.warning("could not write the job journal in %s: %s", self.folder, exc)

    def refresh(self, jobs: list[Job]) -> None:
        """Mark this process's running jobs alive (their files' modification time, and their progress)."""
        for job in jobs:
            path = self._path(job.job_id)
            with contextlib.suppress(OSError):
                if path.exists():
                    os.utime(path)

    def remove(self, job_id: str) -> None:
        """The job ended (and was saved): forget it."""
        with contextlib.suppress(OSError):
            self._path(job_id).unlink()

    def left_behind(self) -> list[tuple[Path, dict[str, Any]]]:
        """Files of jobs whose server is gone (not this process's, not refreshed lately), claimed for recovery."""
        found = []
        try:
            paths = sorted(self.folder.glob("*.json"))
        except OSError:
            return []
        for path in paths:
            try:
                if self.clock() - path.stat().st_mtime < STALE_JOURNAL_SECONDS:
                    continue
                claimed = path.with_suffix(".claimed")
                os.replace(path, claimed)  # one recoverer only (another server may share the folder)
                doc = json.loads(claimed.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("process") != PROCESS:
                found.append((claimed, doc))
        return found

    def recover(self, save: Callable[[dict[str, Any]], None], database: str) -> int:
        """Save each left-behind job meant for ``database`` through ``save(doc)``; return how many."""
        count = 0
        for claimed, doc in self.left_behind():
            if doc.get("database") != database:
                with contextlib.suppress(OSError):  # another database's: leave it for a server that uses it
                    os.replace(claimed, claimed.with_suffix(".json"))
                continue
            try:
                save(doc)
                count += 1
            except Exception:  # noqa: BLE001 - one bad file must not stop the others
                log.exception("could not save the interrupted run %s", claimed.name)
            with contextlib.suppress(OSError):
                claimed.unlink()
        return count


def interrupted_reason(doc: dict[str, Any]) -> str:
    """The sentence an interrupted run is saved with."""
    done = progress_words(doc.get("spec"), doc["done"], doc["total"]) if doc.get("total") else ""
    progress = f" It had reached {done}." if done else ""
    return (
        f"Interrupted: the server stopped while this run was running (started {doc.get('started_at', '?')})."
        f"{progress} Run it again."
    )
