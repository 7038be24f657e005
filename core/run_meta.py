"""The ``meta`` block every run result carries, built in one place for every run kind.

``seconds`` is the run's own time; loading the model (a process's first run
pays it) is ``load_seconds``, so saved runs compare fairly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core import __version__
from core.models.loading import LoadedModel


@dataclass
class RunClock:
    """When a run started and how long loading its model took."""

    started: float = field(default_factory=time.perf_counter)
    load_seconds: float = 0.0

    def load(self, name: str, lm: LoadedModel | None, loader: Callable[[str], LoadedModel]) -> LoadedModel:
        """The model to run on: ``lm`` when given, else ``loader(name)``, timed as loading."""
        if lm is not None:
            return lm
        before = time.perf_counter()
        lm = loader(name)
        self.load_seconds += time.perf_counter() - before
        return lm

    def seconds(self) -> float:
        """The run's time so far, model loading excluded."""
        return time.perf_counter() - self.started - self.load_seconds


def run_meta(lm: LoadedModel, model: Any, method: str, clock: RunClock, **fields: Any) -> dict[str, Any]:
    """The result's ``meta``: model, device, method, the kind's own counts (``fields``), times, version.

    Args:
        lm: the model the run used.
        model: the spec's model field, as given.
        method: the method (or probe) name.
        clock: the run's clock (run time and model-loading time).
        fields: the kind's own entries (features, forward passes, ...), in order.
    """
    return {
        "model_name": lm.display_name,
        "model": model,
        "model_revision": lm.revision,
        "device": str(lm.device),
        "model_dtype": lm.dtype_name,
        "method": method,
        **fields,
        "seconds": round(clock.seconds(), 4),
        "load_seconds": round(clock.load_seconds, 4),
        "version": __version__,
    }
