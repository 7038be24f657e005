"""Which compare rule a set of runs takes: attribution runs align features, probes have their own rule.

Every kind compares: bias runs by candidate (``core.probes.bias.compare``),
few-shot runs by example (``core.probes.few_shot.compare``), attribution runs by
feature (``core.present.compare``). :data:`KIND_COMPARES` holds the probes'
rules (``core.kinds.RunKind.compare``); :func:`probe_kind` says which
rule a set of runs takes, and :func:`kinds_sentence` why runs of different kinds
cannot be compared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.kinds import RUN_KINDS
from core.present.compare import ComparedRun, is_attribution_result

KIND_COMPARES: dict[str, Callable[[Sequence[ComparedRun]], Any]] = {
    name: kind.compare for name, kind in RUN_KINDS.items() if kind.compare is not None
}
"""A probe kind -> its compare rule (``RunKind.compare``: two to four runs of that kind -> a comparison)."""

KIND_WORDS = {name: kind.words for name, kind in RUN_KINDS.items()}


def result_kind(result: Any) -> str | None:
    """The kind of a stored result for comparing ("attribution", "bias", ...), None without a result."""
    if not isinstance(result, dict) or not result:
        return None
    if is_attribution_result(result):
        return "attribution"
    kind = result.get("kind")
    return str(kind) if kind else None


def probe_kind(runs: Sequence[ComparedRun]) -> str | None:
    """The probe kind every run is, when it has a compare rule here; else None."""
    kinds = {result_kind(run.result) for run in runs}
    if len(kinds) == 1:
        kind = kinds.pop()
        return kind if kind in KIND_COMPARES else None
    return None


def kinds_sentence(runs: Sequence[ComparedRun]) -> str | None:
    """Why these runs cannot be compared when they are of different kinds (or lack a result); None otherwise."""
    kinds = [(run, result_kind(run.result)) for run in runs]
    for run, kind in kinds:
        if kind is None:
            return f"{run.name} ({run.title}) has no result to compare (it failed or was stopped); pick finished runs."
    if len({kind for _, kind in kinds}) > 1:
        described = "; ".join(f"{run.name} is {KIND_WORDS.get(kind or '', kind)}" for run, kind in kinds)
        return f"Runs of different kinds cannot be compared ({described}); pick runs of one kind."
    return None
