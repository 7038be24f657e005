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
