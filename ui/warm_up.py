"""Warm the dashboard up while its server starts: imports and the bundled model, in a thread.

``python -m ui.serve`` calls :func:`start_warm_up` before the Streamlit
server starts. The thread first imports the modules the pages need, then loads
the model. ``app.py`` calls :func:`wait_for_modules` first thing, so the first
page waits for the imports instead of importing the same modules beside them
(two threads importing one module can trip over each other); the page then
draws while the model is still loading (the sidebar says so, see
:func:`loading_model`), and whatever needs the model waits for it under the
model cache's lock; the warm-up's forward pass takes one turn of the shared model, and a
calibration (``core.runs.estimate.calibrate``, about a second) measures this machine's speed for the
time estimates the forms show before Run. Under a plain ``streamlit run app.py`` no
warm-up was started and the waits return at once.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.models.loading import LoadedModel

log = logging.getLogger("whylm.warm_up")

# Modules the first page needs; importing them is most of a cold page's time.
WARM_MODULES = (
    "torch",
    "pandas",
    "altair",
    "core.models.loading",
    "core.engine",
    "core.attribution.gradient",
    "core.present.charts",
    "core.attribution.presets",
    "core.attribution.spec",
    "core.store",
    "ui.shared.model",
    "ui.shared.page_parts",
    "ui.explain.view",
    "ui.shared.run_job",
    "ui.shared.method_form",
    "ui.shared.spec_form",
)

_modules_ready = threading.Event()
_loaded = threading.Event()  # the model is in the cache (its first forward pass may still wait for a turn)
_done = threading.Event()
_started = False
_lock = threading.Lock()


def _warm(model_name: str) -> None:
    try:
        try:
            for module in WARM_MODULES:
                importlib.import_module(module)
        finally:
            _modules_ready.set()
        from core.models.loading import load_model

        lm = load_model(model_name)
        _loaded.set()
        _first_forward(lm)  # waits for its turn while a run holds the model
        from core.runs.estimate import calibrate

        calibrate(lm, model_name)  # this machine's speed, for the time estimate before Run
    except Exception as exc:  # noqa: BLE001 - the page loads the model again and shows the sentence
        log.warning("The warm-up stopped (%s); the page will load the model itself.", exc)
    finally:
        _loaded.set()
        _done.set()


def _first_forward(lm: LoadedModel) -> None:
    """One tiny forward pass: the first one in a process pays one-off set-up costs."""
    import torch

    with lm.lock.turn(), torch.no_grad():  # one turn of the shared model (core.models.sharing)
        ids = torch.tensor([[lm.tokenizer.eos_token_id or 0] * 8], device=lm.device)
        lm.model(input_ids=ids)


def start_warm_up(model_name: str = "default") -> bool:
    """Start importing the dashboard's modules and loading ``model_name`` in a daemon thread.

    Returns False (and does nothing) when a warm-up was already started.
    """
    global _started
    with _lock:
        if _started:
            return False
        _started = True
    threading.Thread(target=_warm, args=(model_name,), name="whylm-warm-up", daemon=True).start()
    return True


def wait_for_modules(timeout: float = 600.0) -> bool:
    """Block until a started warm-up has imported the pages' modules (True at once when none was started)."""
    if not _started:
        return True
    return _modules_ready.wait(timeout)


def wait_for_warm_up(timeout: float = 600.0) -> bool:
    """Block until a started warm-up has finished (True), or return at once when none was started."""
    if not _started:
        return True
    return _done.wait(timeout)


def importing_modules() -> bool:
    """Whether a started warm-up is still importing the pages' modules."""
    return _started and not _modules_ready.is_set()


def loading_model() -> bool:
    """Whether a started warm-up is still loading the model (or importing before that).

    False once the model is loaded, though the warm-up's forward pass and calibration may still wait
    for a run that started first to hand the model on.
    """
    return _started and not _loaded.is_set()
