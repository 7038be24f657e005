"""The engine: a run spec in, a run result out, for every run kind.

``run(spec)`` finds the spec's kind in ``core.kinds.RUN_KINDS`` and calls that
kind's runner: attribution runs go to ``core.attribution.engine``, the probes
to ``core.probes.bias.run`` and ``core.probes.few_shot.run``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.attribution.scorer import Progress, ShouldStop
from core.attribution.spec import RunSpec
from core.kinds import RUN_KINDS, run_kind
from core.models.loading import LoadedModel, load_model
from core.result_json import JsonResult


def run(
    spec_doc: dict[str, Any] | RunSpec,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    lm: LoadedModel | None = None,
    loader: Callable[[str], LoadedModel] = load_model,
) -> JsonResult:
    """Run a spec and return its kind's result (``RunResult``, ``BiasResult`` or ``FewShotResult``).

    Args:
        spec_doc: the spec document (or an already parsed attribution ``RunSpec``).
        progress: called with (forward passes done, total).
        should_stop: polled between batches; True stops the run (``Cancelled``).
        lm: an already loaded model (otherwise loaded by name, once per process).
        loader: loads a model by name when ``lm`` is None.
    """
    kind = RUN_KINDS["attribution"] if isinstance(spec_doc, RunSpec) else run_kind(spec_doc)
    return kind.run(spec_doc, progress=progress, should_stop=should_stop, lm=lm, loader=loader)
