"""Which compare rule a set of runs takes: attribution runs align features, probes have their own rule.

Every kind compares: a kind with a rule of its own (``core.kinds.RunKind.compare``:
bias runs by candidate, few-shot runs by example) by that rule, attribution runs by
feature (``core.present.compare``). :func:`probe_kind` says which rule a set of runs
takes, and :func:`kinds_sentence` why runs of different kinds cannot be compared.
The registry is read when asked, so a kind registered later compares too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.kinds import RUN_KINDS, stored_kind
from core.present.compare import ComparedRun, is_attribution_result
from core.present.report_parts import ReportSection


def kind_compare(name: str) -> Callable[[Sequence[ComparedRun]], ReportSection] | None:
    """A kind's compare rule (``RunKind.compare``: two to four of its runs -> their ``ReportSection``), or None."""
    kind = RUN_KINDS.get(name)
    return kind.compare if kind is not None else None


def _words(name: str | None) -> str:
    kind = RUN_KINDS.get(name or "")
    return kind.words if kind is not None else str(name)


def result_kind(result: Any) -> str | None:
    """The kind of a stored result for comparing ("attribution", "bias", ...), None without a result."""
    if not isinstance(result, dict) or not result:
        return None
    if is_attribution_result(result):
        return "attribution"
    kind = stored_kind(result)
    if kind is not None:
        return kind.name
    return str(result["kind"]) if result.get("kind") else None


def probe_kind(runs: Sequence[ComparedRun]) -> str | None:
    """The probe kind every run is, when it has a compare rule here; else None."""
    kinds = {result_kind(run.result) for run in runs}
    if len(kinds) == 1:
        kind = kinds.pop()
        return kind if kind is not None and kind_compare(kind) is not None else None
    return None


def kinds_sentence(runs: Sequence[ComparedRun]) -> str | None:
    """Why these runs cannot be compared when they are of different kinds (or lack a result); None otherwise."""
    kinds = [(run, result_kind(run.result)) for run in runs]
    for run, kind in kinds:
        if kind is None:
            return f"{run.name} ({run.title}) has no result to compare (it failed or was stopped); pick finished runs."
    if len({kind for _, kind in kinds}) > 1:
        described = "; ".join(f"{run.name} is {_words(kind)}" for run, kind in kinds)
        return f"Runs of different kinds cannot be compared ({described}); pick runs of one kind."
    return None
