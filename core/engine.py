"""The engine: a run spec in, a run result out, for every run kind.

``run(spec)`` finds the spec's kind in ``core.kinds.RUN_KINDS`` and calls that
kind's runner: attribution runs go to ``core.attribution.engine``, the probes
to ``core.probes.bias.run`` and ``core.probes.few_shot.run``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.attribution.scorer import Progress, ShouldStop
from core.kinds import parse, parsed_kind
from core.models.loading import LoadedModel, load_model
from core.result_json import JsonResult
from core.runs.estimate import record_run


def validate(spec_doc: Any) -> Any:
    """Check a spec as ``run`` does before it loads a model, and return the kind's parsed spec.

    The spec's kind is looked up (``core.kinds.run_kind``) and its parser checks every
    field, the texts (``core.text.check_document``) and what the run would cost (planned
    coalitions, statistics, memory). Nothing is generated or scored.

    A document is parsed once per content (``core.kinds.parse``); an already parsed spec is
    returned as it is.

    Raises:
        SpecError: one sentence naming the field to fix.
    """
    return parse(spec_doc)


def run(
    spec_doc: Any,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    lm: LoadedModel | None = None,
    loader: Callable[[str], LoadedModel] = load_model,
) -> JsonResult:
    """Run a spec and return its kind's result (``RunResult``, ``BiasResult`` or ``FewShotResult``).

    Args:
        spec_doc: the spec document, or a spec its kind's parser made (``validate``): handed down
            to the kind's runner as it is, not parsed again.
        progress: called with (forward passes done, total).
        should_stop: polled between batches; True stops the run (``Cancelled``).
        lm: an already loaded model (otherwise loaded by name, once per process).
        loader: loads a model by name when ``lm`` is None.
    """
    spec = validate(spec_doc)  # a spec that cannot run is refused before any model is loaded
    kind = parsed_kind(spec)
    result = kind.run(spec, progress=progress, should_stop=should_stop, lm=lm, loader=loader)
    seconds = getattr(result, "meta", {}).get("seconds")
    if isinstance(seconds, (int, float)):
        record_run(spec, float(seconds))  # the speed the next estimate before Run uses (core.runs.estimate)
    return result
