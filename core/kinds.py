"""The run kinds: for each kind its spec parser, its runner and its result class, in one registry.

A spec's ``kind`` field names its entry here; ``core.engine.run`` dispatches
through it, and whatever reads a saved result (the store's import, the
report, the dashboard's views) picks the kind's result class from it. Adding a
kind means adding one ``RunKind`` line below, with imports a reader can follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.attribution.comparison import CompareResult, parse_compare_spec, run_compare
from core.attribution.engine import run_attribution
from core.attribution.result import RunResult
from core.attribution.spec import parse_spec
from core.errors import SpecError, WhyLMError
from core.probes.bias.run import BiasResult, run_bias
from core.probes.bias.spec import parse_bias_spec
from core.probes.few_shot.run import FewShotResult, run_few_shot
from core.probes.few_shot.spec import parse_few_shot_spec
from core.result_json import JsonResult
from core.text import shown


@dataclass(frozen=True)
class RunKind:
    """One kind of run.

    Attributes:
        name: the spec's ``kind`` value.
        title: the kind in words, for tables and reports.
        parse_spec: validates a spec document of this kind (``SpecError`` on a problem).
        run: runs a spec document: ``run(doc, progress=, should_stop=, lm=, loader=)``.
        result: the result class (a ``JsonResult``) of this kind.
    """

    name: str
    title: str
    parse_spec: Callable[[dict[str, Any]], Any]
    run: Callable[..., JsonResult]
    result: type[JsonResult]


RUN_KINDS: dict[str, RunKind] = {
    kind.name: kind
    for kind in (
        RunKind("attribution", "Attribution", parse_spec, run_attribution, RunResult),
        RunKind("bias", "Bias associations", parse_bias_spec, run_bias, BiasResult),
        RunKind("few_shot", "Few-shot prompts", parse_few_shot_spec, run_few_shot, FewShotResult),
        RunKind("compare", "Methods compared", parse_compare_spec, run_compare, CompareResult),
    )
}

DEFAULT_KIND = "attribution"


def kind_names() -> str:
    """The kinds, in words for a sentence: "attribution, bias or few_shot"."""
    names = list(RUN_KINDS)
    return ", ".join(names[:-1]) + " or " + names[-1]


def run_kind(doc: Any) -> RunKind:
    """The kind of a spec or result document (a missing ``kind`` is an attribution run).

    Raises:
        SpecError: the document is not an object or its kind is not a run kind.
    """
    if not isinstance(doc, dict):
        raise SpecError("", "the spec must be a JSON object.")
    kind = doc.get("kind", DEFAULT_KIND)
    if not isinstance(kind, str) or kind not in RUN_KINDS:
        raise SpecError("kind", f"{shown(kind)} is not a run kind; use {kind_names()}.")
    return RUN_KINDS[kind]


def result_from_dict(doc: Any) -> JsonResult:
    """A result document read back into its kind's result class (a sentence when it is not one)."""
    try:
        kind = run_kind(doc)
    except SpecError as exc:
        raise WhyLMError(f"This is not a WhyLM result: {exc}") from None
    return kind.result.from_dict(doc)
