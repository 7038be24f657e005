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
from core.errors import SpecError
from core.models.loading import LoadedModel
from core.models.request import parse_model
from core.text import shown


@dataclass
class RunClock:
    """When a run started and how long loading its model took."""

    started: float = field(default_factory=time.perf_counter)
    load_seconds: float = 0.0

    def load(self, name: Any, lm: LoadedModel | None, loader: Callable[[str], LoadedModel]) -> LoadedModel:
        """The model to run on: ``lm`` when given (checked to be the model the spec names), else
        ``loader(name)``, timed as loading.

        Raises:
            SpecError: ``lm`` is not the model the spec's ``model`` field names.
        """
        if lm is not None:
            check_same_model(name, lm)
            return lm
        before = time.perf_counter()
        lm = loader(name)
        self.load_seconds += time.perf_counter() - before
        return lm

    def seconds(self) -> float:
        """The run's time so far, model loading excluded."""
        return time.perf_counter() - self.started - self.load_seconds


def check_same_model(model: Any, lm: Any) -> None:
    """Refuse to run a spec on a loaded model other than the one its ``model`` field names.

    The name is compared (and the endpoint, for a served model); how the model was loaded
    (dtype, device map) may differ, as the dashboard's precision setting decides that.

    Raises:
        SpecError: the spec names another model than the one given to run on.
    """
    request = parse_model(model)
    if request.name == lm.name and (request.endpoint is None or request.endpoint == lm.endpoint):
        return
    raise SpecError(
        "model",
        f"the spec names the model {shown(request.name)}, but the run was handed {shown(lm.name)}; "
        "choose that model (or change the spec's model) and run again.",
    )


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
