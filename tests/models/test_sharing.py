"""Issue 15, defects 2 and 11: the model shared fairly among runs, a per-run work limit, atomic example loads.

The share (``core.models.sharing``) is checked with threads that stand in for
runs, then with the real model (a short run beside a long one); the work limit
through the engine, the dashboard's job and the command line; the example
loader under streamlit's AppTest, with a Run click from a page that had not
yet shown the loaded example.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.runtime.scriptrunner import RerunData
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from streamlit.testing.v1 import AppTest

import core.attribution.gradient
import core.attribution.scorer
import core.engine
import ui.explain.form
from core.__main__ import main as cli_main
from core.attribution.presets import PRESETS, preset
from core.attribution.spec import parse_spec
from core.errors import Cancelled, WhyLMError
from core.models.sharing import ModelShare, WorkLimitExceeded, work_limit
from core.probes.bias.data import bias_presets
from core.probes.few_shot.spec import few_shot_presets
from core.runs.limit import DEFAULT_MAX_FORWARD_PASSES, LIMIT_ENV, dashboard_max_forward_passes, what_to_lower
from core.store import RunRepository
from tests.page_support import APP, no_exception
from ui.shared.run_job import RunJob, _progress_text, _work

TIMEOUT = 240
WORDS = "Maria moved from Lisbon to Oslo last winter and now teaches chemistry at a small school"


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The model runs in one thread here: on a busy shared machine a second one mostly waits for a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _spec(method: dict[str, Any], text: str = WORDS, target: str = " She loves it.") -> dict[str, Any]:
    return {
        "kind": "attribution",
        "model": "default",
        "prompt": {"text": text, "granularity": "word"},
        "target": {"text": target},
        "method": method,
    }


def _numbers(result: Any) -> dict[str, Any]:
    """A result without its timings (the numbers a shared run must reproduce exactly)."""
    doc = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    doc["meta"] = {k: v for k, v in doc["meta"].items() if "seconds" not in k}
    return doc


def _wait_until(check: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.002)


def _thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------- the share, threads standing in for runs


def test_a_new_run_goes_before_a_long_run_at_its_next_batch() -> None:
    share = ModelShare(priority_seconds=0.3)
    log: list[str] = []
    short_done = threading.Event()

    def long_run() -> None:
        with share.job(), share.turns() as turns:
            for i in range(400):
                turns.next()
                log.append("L")
                time.sleep(0.4 if i == 0 else 0.002)  # the first batch takes it past the priority time
                if short_done.is_set() and log[-3:] == ["L"] * 3:
                    return

    def short_run() -> None:
        with share.job():
            with share.turns() as turns:  # a first step (e.g. generating the target) ...
                log.append("asks")
                for _ in range(2):
                    turns.next()
                    log.append("S")
            time.sleep(0.05)  # ... some work without the model (tokenising) ...
            with share.turn():  # ... and the next step keeps its place
                log.append("S")
        short_done.set()

    long = _thread(long_run)
    _wait_until(lambda: len(log) >= 2, "the long run is past its first batch")
    short = _thread(short_run)
    short.join(20)
    long.join(20)
    asked, first = log.index("asks"), log.index("S")
    # at most the long run's batch in progress comes between the request and the short run's turn ...
    assert log[asked + 1 : first].count("L") <= 1, log
    # ... and the short run then keeps the model for all its batches, across its steps
    assert log[first : first + 3] == ["S"] * 3, log
    assert log[-1] == "L" and share.runs() == 0


def test_long_runs_take_turns_batch_by_batch() -> None:
    share = ModelShare(priority_seconds=0.0)  # both runs are long ones at once
    log: list[str] = []

    def run(name: str, wait_for_other: threading.Event | None) -> None:
        with share.job(), share.turns() as turns:
            for i in range(6):
                turns.next()
                log.append(name)
                if i == 0 and wait_for_other is not None:
                    wait_for_other.wait(20)

    b_waits = threading.Event()
    a = _thread(lambda: run("A", b_waits))
    _wait_until(lambda: log == ["A"], "A has the model")
    b = _thread(lambda: run("B", None))
    _wait_until(lambda: b.ident is not None and share.place(b.ident) == 1, "B waits behind A")
    b_waits.set()
    a.join(20)
    b.join(20)
    assert log == ["A", "B"] * 6


def test_place_counts_the_runs_before_a_waiting_one() -> None:
    share = ModelShare()
    release = threading.Event()

    def holder() -> None:
        with share.turn():
            release.wait(20)

    def waiter() -> None:
        with share.turn():
            pass

    h = _thread(holder)
    _wait_until(lambda: h.ident is not None and share.place(h.ident) == 0, "the holder has the model")
    w1 = _thread(waiter)
    _wait_until(lambda: share.place(w1.ident) is not None, "the first waiter queues")
    w2 = _thread(waiter)
    _wait_until(lambda: share.place(w2.ident) is not None, "the second waiter queues")
    assert (share.place(h.ident), share.place(w1.ident), share.place(w2.ident)) == (0, 1, 2)
    assert share.place(threading.get_ident()) is None and share.runs() == 3
    release.set()
    for t in (h, w1, w2):
        t.join(20)
    assert share.runs() == 0


def test_stop_while_waiting_for_the_model_cancels_the_run() -> None:
    share = ModelShare()
    release, stop = threading.Event(), threading.Event()
    outcome: list[str] = []

    def holder() -> None:
        with share.turn():
            release.wait(20)

    def waiter() -> None:
        try:
            with share.turn(should_stop=stop.is_set):
                outcome.append("ran")
        except Cancelled:
            outcome.append("cancelled")

    h = _thread(holder)
    _wait_until(lambda: share.place(h.ident) == 0, "the holder has the model")
    w = _thread(waiter)
    _wait_until(lambda: share.place(w.ident) == 1, "the waiter queues")
    stop.set()
    w.join(20)
    assert outcome == ["cancelled"] and share.place(w.ident) is None
    release.set()
    h.join(20)
    with share.turn():  # the model is free again
        assert share.holds()


def test_a_whole_block_under_the_lock_is_never_handed_on() -> None:
    share = ModelShare(priority_seconds=0.0)
    release = threading.Event()
    log: list[str] = []

    def other() -> None:
        with share.turn():
            log.append("other")

    with share:  # the older "with lm.lock:" still holds the model for the whole block
        t = _thread(other)
        _wait_until(lambda: share.place(t.ident) == 1, "another run waits")
        with share.turns() as turns:
            for _ in range(3):
                turns.next()
                log.append("block")
    release.set()
    t.join(20)
    assert log == ["block"] * 3 + ["other"]


def test_the_progress_bar_shows_the_place_in_the_queue() -> None:
    share = ModelShare()
    release = threading.Event()

    def holder() -> None:
        with share.turn():
            release.wait(20)

    def job_run() -> None:
        with share.turn():
            pass

    other = _thread(holder)
    _wait_until(lambda: share.place(other.ident) == 0, "another run has the model")
    job = RunJob(spec={}, title="", tags=[], save=False, share=share)
    job.thread = _thread(job_run)
    _wait_until(lambda: job.place() == 1, "the job waits")
    fraction, text = _progress_text(job)
    assert fraction == 0.0 and text.startswith("Waiting for 1 other run to take their turn"), text
    job.total, job.done = 100, 40
    assert "40 of 100 forward passes" in _progress_text(job)[1]
    assert "waiting for 1 other run to take their turn" in _progress_text(job)[1]
    release.set()
    other.join(20)
    job.thread.join(20)
    assert job.place() is None and _progress_text(job)[1].startswith("40 of 100 forward passes")


# ---------------------------------------------------------------- the real model: a short run beside a long


@pytest.mark.slow
def test_a_short_run_finishes_beside_a_long_one_with_the_numbers_of_a_run_alone(lm, monkeypatch) -> None:
    monkeypatch.setenv("WHYLM_MEMORY_BUDGET_MB", "1")  # one row per batch: many turns to hand on
    # the faithfulness check is left out: it adds scoring to both runs and nothing to what is checked here
    long_spec = {**_spec({"name": "kernel_shap", "n_samples": 30}), "faithfulness": False}
    short_spec = {**preset("captum_tutorial").spec_copy(), "faithfulness": False}
    long_alone, short_alone = core.engine.run(long_spec, lm=lm), core.engine.run(short_spec, lm=lm)

    long_progress: list[tuple[float, int, int]] = []
    long_result: list[Any] = []
    def note(done: int, total: int) -> None:
        long_progress.append((time.monotonic(), done, total))

    long = _thread(lambda: long_result.append(core.engine.run(long_spec, lm=lm, progress=note)))
    _wait_until(lambda: len(long_progress) >= 3, "the long run is scoring")
    short_result = core.engine.run(short_spec, lm=lm)
    short_end = time.monotonic()
    long.join(120)
    # before the share, the short run waited for the whole long run under one lock
    left = [total - done for at, done, total in long_progress if at <= short_end]
    assert left[-1] > 0, "the short run waited for the long run to finish"
    assert long_progress[-1][0] > short_end
    assert _numbers(short_result) == _numbers(short_alone)
    assert _numbers(long_result[0]) == _numbers(long_alone)


# ---------------------------------------------------------------- the work limit


@pytest.mark.slow
def test_a_run_over_the_limit_is_refused_before_its_first_batch(lm) -> None:
    calls: list[tuple[int, int]] = []
    for spec, lower in [
        (_spec({"name": "kernel_shap", "n_samples": 500}), '"Samples" (now 500)'),
        (_spec({"name": "integrated_gradients", "steps": 200}), '"Steps" (now 200)'),
    ]:
        with work_limit(150, what_to_lower(spec)), pytest.raises(WorkLimitExceeded) as caught:
            core.engine.run(spec, lm=lm, progress=lambda d, t: calls.append((d, t)))
        sentence = str(caught.value)
        assert caught.value.needed > 150 and caught.value.limit == 150
        assert f"needs {caught.value.needed:,} forward passes" in sentence and "150" in sentence
        assert lower in sentence, sentence
    assert calls == [], "a batch ran before the refusal"
    # under the limit the same kind of run goes through
    with work_limit(150, "lower it."):
        core.engine.run(_spec({"name": "kernel_shap", "n_samples": 40}), lm=lm)


def test_the_dashboard_applies_the_setting_and_says_what_to_lower(lm, data_dir, monkeypatch) -> None:
    assert dashboard_max_forward_passes() == DEFAULT_MAX_FORWARD_PASSES == 20_000
    for raw, expected in [("0", None), ("off", None), ("5,000", 5000)]:
        monkeypatch.setenv(LIMIT_ENV, raw)
        assert dashboard_max_forward_passes() == expected
    monkeypatch.setenv(LIMIT_ENV, "plenty")
    with pytest.raises(WhyLMError, match="set it to a whole number"):
        dashboard_max_forward_passes()
    monkeypatch.setenv(LIMIT_ENV, "100")
    job = RunJob(spec=_spec({"name": "lime", "n_samples": 400}), title="", tags=[], save=False)
    _work(job, lm, None, core.engine.run)
    assert job.status == "failed" and job.result is None
    assert job.error.startswith("This run needs") and '"Samples" (now 400)' in job.error, job.error


class _Counted(Exception):
    """Raised by the counting stand-in below at a run's big step, before its first batch."""


def test_the_shipped_presets_fit_the_default_limit(lm, monkeypatch) -> None:
    counted: list[int] = []

    def count(passes: int) -> None:
        counted.append(passes)
        if passes > 2:  # the run's main step (a gradient run first scores its two end points)
            raise _Counted()

    monkeypatch.setattr(core.attribution.scorer, "plan_forward_passes", count)
    monkeypatch.setattr(core.attribution.gradient, "plan_forward_passes", count)
    specs = [p.spec_copy() for p in PRESETS] + [*bias_presets().values(), *few_shot_presets().values()]
    for spec in specs:
        counted.clear()
        with pytest.raises(_Counted):
            core.engine.run(spec, lm=lm)
        assert 2 < sum(counted) <= DEFAULT_MAX_FORWARD_PASSES, (spec.get("title"), counted)


def test_the_command_line_has_no_limit_unless_asked(lm, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(LIMIT_ENV, "1")  # the dashboard's setting does not reach the command line
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(_spec({"name": "kernel_shap", "n_samples": 300})), encoding="utf-8")
    assert cli_main(["run", str(path), "--quiet", "--max-forward-passes", "100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: This run needs") and '"Samples" (now 300)' in err and "Traceback" not in err
    assert cli_main(["run", str(path), "--quiet", "--max-forward-passes", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    path.write_text(json.dumps(preset("captum_tutorial").spec), encoding="utf-8")
    assert cli_main(["run", str(path), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["meta"]["forward_passes"] > 1


# ---------------------------------------------------------------- defect 11: Load example, then Run at once


def _page_with(example: str | None) -> AppTest:
    """The Explain page with ``example`` loaded (None: as it opens)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if example:
        at.selectbox(key="ex_preset").set_value(example).run()
        at.button(key="ex_load").click().run()
    no_exception(at)
    return at


def _browser_states(before: AppTest, after: AppTest, shown: float) -> WidgetStates:
    """What a browser sends when Run is clicked after it redrew the first ``shown`` of ``after``'s widgets.

    The widgets it has not redrawn yet still hold ``before``'s values (0: the page before the load).
    """
    old, new = before._tree.get_widget_states(), after._tree.get_widget_states()
    order = [w.id for w in new.widgets]
    redrawn = {w.id: w for w in new.widgets[: int(len(order) * shown)]}
    states = WidgetStates()
    for widget in old.widgets:
        states.widgets.append(redrawn.pop(widget.id, widget))
    states.widgets.extend(redrawn.values())
    run_id = before.button(key="ex_run").id
    pressed = [w for w in states.widgets if w.id == run_id]
    assert pressed, "the page has no Run button"
    pressed[0].trigger_value = True
    return states


@pytest.mark.parametrize("shown", [0.0, 0.5], ids=["page-not-yet-redrawn", "page-half-redrawn"])
def test_run_pressed_while_the_loaded_example_is_still_drawing_runs_wholly_the_new_one(
    data_dir, lm, monkeypatch, shown
) -> None:
    old, new = "chat_hobby", "captum_tutorial"
    at = _page_with(old)
    at.selectbox(key="ex_preset").set_value(new).run()
    stale = _browser_states(at, _page_with(new), shown)
    draw_form = ui.explain.form.build_spec
    sent: list[bool] = []

    def interrupted_draw() -> Any:
        if not sent:  # the Run click arrives while the rerun that loads the example draws the form
            sent.append(True)
            get_script_run_ctx().script_requests.request_rerun(RerunData(widget_states=stale))
        return draw_form()

    monkeypatch.setattr(ui.explain.form, "build_spec", interrupted_draw)
    at.button(key="ex_load").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert sent, "the Run click was never sent"
    runs = RunRepository().list_runs()
    assert len(runs) == 1, [e.value for e in at.error]
    saved = RunRepository().get_run(runs[0].id)
    assert parse_spec(saved.spec).raw == parse_spec(preset(new).spec_copy()).raw
    # the page shows the loaded example too, and keeps it on the next rerun
    at.run()
    assert at.text_area(key="ex_template").value == preset(new).spec["prompt"]["template"]
    assert at.selectbox(key="ex_method").value == "feature_ablation"
