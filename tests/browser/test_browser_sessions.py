"""Issue 15, defect 2 in a real browser: eight sessions on one server, one of them running a long job.

Session 0 starts a long Kernel SHAP run; sessions 1-7 run small examples
(the Captum tutorial, the grouped-slots example, integrated gradients): one of
each kind one after another, then all seven at once. One after another, each short job waits
for the model only while the long job finishes the batch it is in: while the
short job's page says it waits, the long job moves on by at most that one
batch. Its time from Run to result is checked against its time alone plus that
batch, with room for a busy shared machine (see SLOWER); before the model was
shared it waited for the whole long job (minutes). All at once, the long job
may get in at most two batches until the explain runs are done (the
integrated-gradients run, at 8 steps, then takes turns with it batch by batch).
Every saved result must equal a single-process
run of its spec. The figures (wall time, each job's wait, the long job's batch
time, the server's peak memory) are printed (``pytest -s``) and recorded as a
property of the test report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

import core.engine
from core.attribution.methods import METHODS
from core.attribution.spec import parse_spec
from core.store import RunRepository
from core.store.config import sqlite_url
from tests.browser_support import Server, scaled, start_server, stop_server

pytestmark = [pytest.mark.browser]

# One thread per run: the server's CPU is shared with the test and the browser (as a
# server's is with its users); a smaller memory budget gives the long job short batches. 96 MB, not 64: the
# integrated-gradients example needs 58 MB for one point (measured), and once in a whole-suite run its session
# was refused at 87 MB against 64 (the form's spec then was not the one measured; its cause was not found).
SERVER_ENV = {"OMP_NUM_THREADS": "1", "WHYLM_MEMORY_BUDGET_MB": "96"}
LONG_TEXT = (
    "I am a nurse from Lagos who works long night shifts at a busy hospital and I would like "
    "a calm hobby for my free mornings. Suggest a hobby."
)
LONG_SAMPLES = 2000
IG_STEPS = 8
EXPLAIN, GRADIENTS = "", "token_gradients"
TUTORIAL = "Captum tutorial: Dave lives in Palm Coast"
GROUPED = "Grouped slots with replacement baselines"
CHAT = "Chat mode: what does the assistant answer, and why?"
CAPITAL = "Integrated gradients: the capital of France"
# the seven short sessions: (page, worked example)
SHORT = [(EXPLAIN, TUTORIAL)] * 4 + [(EXPLAIN, GROUPED)] * 2 + [(GRADIENTS, CAPITAL)]
ONE_BY_ONE = (0, 4, 6)  # a session of each kind runs alone, then one after another beside the long job
# Room for the browser's polling and redraw and for a machine shared with other work: the alone
# times are measured minutes before the shared ones, under whatever else the machine runs then
# (measured on a busy 2-core machine: up to 2.4x the alone time, waiting included).
SLACK_SECONDS = 3.0
SLOWER = 2.0
TIMEOUT_MS = scaled(120_000)  # tests.browser_support.scaled: longer on a slower or busy machine
# text each example puts in the form's text boxes
MARKS = {
    TUTORIAL: "{} lives in", GROUPED: "{name} lives in", CHAT: "nurse from Lagos", CAPITAL: "capital of France"
}
LOADED = "mark => [...document.querySelectorAll('textarea')].some(t => t.value.includes(mark))"


# One cheap look at a page (textContent: no layout): its "Saved as run N" number and its progress words.
LOOK = """() => {
  const saved = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .map(c => (c.textContent.match(/Saved as run (\\d+)/) || [])[1]).find(n => n);
  const bar = document.querySelector('[data-testid="stProgress"]');
  return [saved ? Number(saved) : null, bar ? bar.textContent : ''];
}"""


@dataclass
class Session:
    """One browser context on the dashboard, with the example its form holds."""

    page: Any
    example: str
    last_run: int | None = None
    seen: list[tuple[float, str]] = field(default_factory=list)  # (when, progress words) while a run went on

    def look(self) -> tuple[int | None, str]:
        """The page's saved run number (None: none shown) and its progress words ("": no progress bar)."""
        saved, words = self.page.evaluate(LOOK)
        return saved, words

    def progress(self) -> str:
        """The progress bar's words, or ""."""
        return self.look()[1]

    def click_run(self) -> float:
        """Press Run; return when it was pressed."""
        self.last_run = self.look()[0]
        self.seen = []
        started = time.monotonic()
        self.page.get_by_role("button", name="Run", exact=True).click()
        return started

    def finished(self) -> bool:
        """Whether the run started by :meth:`click_run` is shown as saved (notes its progress if not)."""
        shown, words = self.look()
        if words:
            self.seen.append((time.monotonic(), words))
        return shown is not None and shown != self.last_run



def _open_all(browser: Any, server: Server, wanted: list[tuple[str, str]]) -> list[Session]:
    """A browser context per (page path, worked example) with the example loaded; the pages load side by side."""
    pages = []
    for path, _ in wanted:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{server.url}/{path}", wait_until="commit")
        pages.append(page)
    for page, (_, example) in zip(pages, wanted):
        _pick(page, example)
    for page in pages:
        _settle(page)
        page.get_by_role("button", name="Load example").click()
    sessions = []
    for page, (_, example) in zip(pages, wanted):
        _settle(page)
        for _ in range(3):  # a click can be lost while the page is still busy drawing: choose and load again
            if page.evaluate(LOADED, MARKS[example]):
                break
            _pick(page, example)
            _settle(page)
            page.get_by_role("button", name="Load example").click()
            _settle(page)
        assert page.evaluate(LOADED, MARKS[example]), f"the example {example!r} did not load"
        sessions.append(Session(page, example))
    return sessions


def _pick(page: Any, example: str) -> None:
    """Choose ``example`` in the page's worked-examples box."""
    picker = page.locator("[data-testid='stSelectbox']").filter(has_text="Worked examples")
    picker.wait_for(timeout=TIMEOUT_MS)
    picker.click()
    page.get_by_role("option", name=example).click()


def _settle(page: Any) -> None:
    """Wait until the page's script run has finished (Streamlit's status widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS
    )


def _long_job(browser: Any, server: Server) -> Session:
    """The chat example made long: a 30-word prompt explained by Kernel SHAP with 2,000 samples."""
    [session] = _open_all(browser, server, [(EXPLAIN, CHAT)])
    page = session.page
    box = page.get_by_role("textbox", name="Prompt text")
    box.fill(LONG_TEXT)
    box.press("Tab")
    _settle(page)
    samples = page.locator("input[aria-label='Samples']:visible").first
    try:
        samples.wait_for(timeout=scaled(20_000))
    except Exception:  # noqa: BLE001 - seen once in a whole-suite run: the form showed another method
        print("The long job's page showed no Samples box; its text:\n" + page.inner_text("body")[:3000])
        _choose_method(page, METHODS["kernel_shap"].title)
    _set_number(page, "Samples", LONG_SAMPLES)
    return session


def _choose_method(page: Any, title: str) -> None:
    """Choose the method ``title`` in the page's Method box and wait for the page to take it."""
    picker = page.locator("[data-testid='stSelectbox']:visible").filter(has_text="Method").first
    picker.wait_for(timeout=TIMEOUT_MS)
    picker.click()
    page.get_by_role("option", name=title, exact=True).click()
    _settle(page)


def _set_number(page: Any, label: str, value: int) -> None:
    """Type ``value`` into the number box ``label`` and wait for the page to take it."""
    box = page.locator(f"input[aria-label='{label}']:visible").first
    box.wait_for(timeout=TIMEOUT_MS)
    box.fill(str(value))
    box.press("Enter")
    _settle(page)


@dataclass
class LongJob:
    """The long job's session and the forward passes its progress bar showed over time."""

    session: Session
    history: list[tuple[float, int]] = field(default_factory=list)  # (when, passes done)

    def sample(self) -> int | None:
        """Note the passes done now (None when the page shows no scoring progress)."""
        words = self.session.progress()
        if "forward passes" not in words:
            return None
        done = int(words.split(" of ")[0].replace(",", ""))
        self.history.append((time.monotonic(), done))
        return done

    def done_at(self, when: float) -> int:
        """Passes done by ``when``, as last seen."""
        seen = [done for at, done in self.history if at <= when]
        return seen[-1] if seen else 0

    def moved_between(self, start: float, end: float) -> int:
        """Passes added between the first and the last sample taken from ``start`` to ``end``."""
        seen = [done for at, done in self.history if start <= at <= end]
        return seen[-1] - seen[0] if seen else 0

    def largest_batch(self) -> int:
        """The most passes one progress update added (one batch, or more if two fell between samples)."""
        dones = [d for _, d in self.history]
        return max((b - a for a, b in zip(dones, dones[1:])), default=0)


def _wait_all(
    sessions: list[Session], started: dict[int, float], long: LongJob | None = None, timeout: float = 120.0
) -> dict[int, float]:
    """Poll the sessions (and the long job) until each run is saved; return each one's seconds to result."""
    took: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while len(took) < len(started):
        assert time.monotonic() < deadline, f"runs did not finish: {sorted(set(started) - set(took))}"
        for i in started:
            if i not in took and sessions[i].finished():
                took[i] = time.monotonic() - started[i]
        if long is not None:
            long.sample()
        time.sleep(0.1)
    return took


def _waiting_window(session: Session) -> tuple[float, float] | None:
    """When the page first and last said it was waiting for other runs (None: it never did)."""
    times = [at for at, words in session.seen if words.startswith("Waiting for")]
    return (min(times), max(times)) if times else None


def _batch_seconds(long: LongJob, batches: int = 3, timeout: float = 60.0) -> float:
    """The long job's longest batch while it runs alone: the longest gap between its progress updates."""
    deadline = time.monotonic() + timeout
    first = len(long.history)
    changes: list[float] = []
    while len(changes) < batches + 1:
        assert time.monotonic() < deadline, f"the long job made too little progress: {long.history[first:]}"
        before = long.history[-1][1] if len(long.history) > first else None
        done = long.sample()
        assert done is not None, "the long job is not scoring"
        if before is not None and done != before:
            changes.append(time.monotonic())
        time.sleep(0.1)
    return max(b - a for a, b in zip(changes, changes[1:]))


def _peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _numbers(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "meta": {k: v for k, v in doc["meta"].items() if "seconds" not in k and k != "run_id"}}


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    data = tmp_path / "data"
    srv = start_server(data, extra_env=SERVER_ENV)
    try:
        yield srv, data
    finally:
        stop_server(srv)


def test_eight_sessions_share_the_model_fairly(browser, server, lm, monkeypatch, record_property) -> None:
    srv, data = server
    began = time.monotonic()
    shorts = _open_all(browser, srv, SHORT)
    for session in shorts:  # the example's 24 steps make a long run here (one thread), not a short one
        if session.example == CAPITAL:
            _set_number(session.page, "Steps", IG_STEPS)
    long = LongJob(_long_job(browser, srv))

    # each kind of short job alone
    alone: dict[str, float] = {}
    for i in ONE_BY_ONE:
        alone[shorts[i].example] = _wait_all(shorts, {i: shorts[i].click_run()})[i]

    # the long job starts, and keeps going through everything below
    long.session.page.get_by_role("button", name="Run", exact=True).click()
    long.session.page.wait_for_function(
        "() => /forward passes/.test(document.body.innerText)", timeout=TIMEOUT_MS
    )
    batch = _batch_seconds(long)

    # one after another, a session of each kind: each waits for at most the long job's batch in progress
    one_by_one: dict[int, float] = {}
    windows: dict[int, tuple[float, float] | None] = {}
    for i in ONE_BY_ONE:
        one_by_one.update(_wait_all(shorts, {i: shorts[i].click_run()}, long))
        windows[i] = _waiting_window(shorts[i])
    # all at once: the short runs go before the long one
    burst_start = time.monotonic()
    burst = _wait_all(shorts, {i: s.click_run() for i, s in enumerate(shorts)}, long)
    burst_windows = {i: _waiting_window(s) for i, s in enumerate(shorts)}
    assert long.sample() is not None, "the long job ended before the short ones"
    long.session.page.get_by_role("button", name="Stop").click()
    long.session.page.wait_for_function(
        "() => /\\(stopped\\)/.test(document.body.innerText)", timeout=TIMEOUT_MS
    )
    long.session.page.wait_for_function(  # once stopped, the page is drawn again: Run can be pressed
        "() => [...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Run' && !b.disabled)",
        timeout=TIMEOUT_MS,
    )
    quick_end = burst_start + max(t for i, t in burst.items() if shorts[i].example != CAPITAL)
    peak = _peak_memory_mb(srv.process.pid)
    wall = time.monotonic() - began

    largest = long.largest_batch()

    def long_moved(window: tuple[float, float] | None) -> int:
        # passes the long job was seen to add while the page said it waited (and 0.2 s after, for the
        # batch that ends the wait); samples from before the window are not used: on a fast machine a
        # sample taken a poll earlier would add the batch before the one in progress (CI: 0.31 s batches)
        return long.moved_between(window[0], window[1] + 0.2) if window else 0

    def shown(window: tuple[float, float] | None) -> float:
        return round(window[1] - window[0], 2) if window else 0.0

    figures = {
        "wall_seconds": round(wall, 1),
        "long_batch_seconds": round(batch, 2),
        "long_largest_batch_forward_passes": largest,
        "alone_seconds": {k: round(v, 2) for k, v in alone.items()},
        "one_by_one_seconds": {i: round(v, 2) for i, v in one_by_one.items()},
        "one_by_one_extra_seconds": {
            i: round(t - alone[shorts[i].example], 2) for i, t in one_by_one.items()
        },
        "one_by_one_shown_waiting_seconds": {i: shown(w) for i, w in windows.items()},
        "one_by_one_long_passes_while_waiting": {i: long_moved(w) for i, w in windows.items()},
        "burst_seconds": {i: round(v, 2) for i, v in sorted(burst.items())},
        "burst_shown_waiting_seconds": {i: shown(w) for i, w in burst_windows.items()},
        "burst_long_passes": long.done_at(time.monotonic()) - long.done_at(burst_start),
        # until the explain runs (seconds each) are done; the integrated-gradients run then takes turns
        # with the long job, batch by batch
        "burst_long_passes_while_quick_runs_wait": long.done_at(quick_end) - long.done_at(burst_start),
        "server_peak_memory_mb": round(peak),
    }
    record_property("figures", json.dumps(figures))
    print("\n8-session figures:", json.dumps(figures, indent=1))

    for i in ONE_BY_ONE:
        session = shorts[i]
        # within its run time alone plus one batch of the long job (with room for a busy machine) ...
        assert one_by_one[i] <= alone[session.example] * SLOWER + batch + SLACK_SECONDS, (i, figures)
        # ... having waited, while its page said so, for no more than the long job's batch in progress
        assert long_moved(windows[i]) <= largest, (i, figures)
    # all at once: the long job gets at most a batch or two in while the quick runs go (their times
    # are reported, not bounded: seven pages drawing at once on two cores cost more than the model)
    assert figures["burst_long_passes_while_quick_runs_wait"] <= 2 * largest, figures
    assert any(burst_windows.values()), "no page showed its place in the queue"

    # every saved result equals a run of its spec in one process (same batches: same budget, one thread)
    repo = RunRepository(sqlite_url(data / "whylm.db"))
    records = [repo.get_run(r.id) for r in repo.list_runs()]
    assert sorted(r.status for r in records) == ["done"] * (2 * len(ONE_BY_ONE) + len(SHORT)) + ["stopped"]
    monkeypatch.setenv("WHYLM_MEMORY_BUDGET_MB", SERVER_ENV["WHYLM_MEMORY_BUDGET_MB"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference: dict[str, dict[str, Any]] = {}
        for record in records:
            if record.status != "done":
                continue
            key = json.dumps(parse_spec(record.spec).raw, sort_keys=True)
            if key not in reference:
                reference[key] = _numbers(core.engine.run(record.spec, lm=lm).to_dict())
            assert _numbers(record.result) == reference[key], record.title
    finally:
        torch.set_num_threads(threads)
    assert len(reference) == 3
