"""The start-up warm-up (``ui.warm_up``): it imports the pages' modules, loads the model and measures its speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from ui import warm_up
assert warm_up.wait_for_modules() and warm_up.wait_for_warm_up(), "waits return at once without a warm-up"
assert not warm_up.loading_model()
assert warm_up.start_warm_up() is True
assert warm_up.loading_model(), "the model cannot have loaded already"
assert warm_up.start_warm_up() is False, "a second start must do nothing"
assert warm_up.wait_for_modules(300) and warm_up.wait_for_warm_up(300)
assert not warm_up.importing_modules() and not warm_up.loading_model()
missing = [m for m in warm_up.WARM_MODULES if m not in sys.modules]
assert not missing, missing
from core.models import loading as model_loading
assert any(key[0] == "default" for key in model_loading._CACHE), "the model was not loaded"
from core.runs import estimate as run_time
assert run_time.SPEEDS.calibration("default") is not None, "this machine's speed was not measured"
print("warm")
"""


@pytest.mark.slow
def test_warm_up_imports_the_pages_modules_and_loads_the_model() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("warm")


def test_the_model_counts_as_loaded_while_the_warm_up_waits_for_a_run_to_hand_it_on(monkeypatch) -> None:
    """A run started before the warm-up's first forward pass holds the model; the sidebar must not say
    "Loading the bundled model" for the whole run (seen on a screenshot of a long documents run)."""
    import contextlib
    import threading
    import types

    from core.models import loading
    from core.runs import estimate
    from ui import warm_up

    handed_on = threading.Event()

    @contextlib.contextmanager
    def turn():  # the turn a run holds until it ends
        handed_on.wait(30)
        yield

    model = types.SimpleNamespace(
        lock=types.SimpleNamespace(turn=turn),
        tokenizer=types.SimpleNamespace(eos_token_id=0),
        device="cpu",
        model=lambda input_ids: None,
    )
    calibrated = []
    monkeypatch.setattr(estimate, "calibrate", lambda lm, name: calibrated.append(name))
    for name in ("_modules_ready", "_loaded", "_done"):
        monkeypatch.setattr(warm_up, name, threading.Event())
    monkeypatch.setattr(warm_up, "_started", True)
    monkeypatch.setattr(warm_up, "WARM_MODULES", ())
    monkeypatch.setattr(loading, "load_model", lambda name: model)
    thread = threading.Thread(target=warm_up._warm, args=("default",), daemon=True)
    assert warm_up.loading_model()
    thread.start()
    assert warm_up._loaded.wait(10)
    assert not warm_up.loading_model() and not warm_up._done.is_set()  # loaded, its forward pass still waiting
    handed_on.set()
    thread.join(30)
    assert warm_up._done.is_set() and not warm_up.loading_model()
    assert calibrated == ["default"]  # the warm-up went on to the end once the model was handed on
