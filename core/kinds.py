"""The run kinds: for each kind its spec parser, its runner and its result class, in one registry.

A spec's ``kind`` field names its entry here; ``core.engine.run`` dispatches
through it, and whatever reads a saved result (the store's import, the
report, the dashboard's views) picks the kind's result class from it. Adding a
kind means adding one ``RunKind`` line below, with imports a reader can follow.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.attribution.comparison import CompareResult, CompareSpec, parse_compare_spec, run_compare
from core.attribution.engine import run_attribution
from core.attribution.result import RunResult
from core.attribution.spec import RunSpec, parse_spec
from core.attribution.work import attribution_lower, attribution_work, compare_work
from core.errors import SpecError, WhyLMError
from core.present.export_tables import attribution_rows
from core.present.method_comparison import methods_table
from core.probes.bias.charts import verdict_rows
from core.probes.bias.compare import compare as compare_bias_runs
from core.probes.bias.report import bias_report
from core.probes.bias.run import BiasResult, run_bias
from core.probes.bias.spec import BiasSpec, parse_bias_spec
from core.probes.bias.work import bias_lower, bias_work
from core.probes.few_shot.charts import export_frame
from core.probes.few_shot.compare import compare as compare_few_shot_runs
from core.probes.few_shot.report import few_shot_report
from core.probes.few_shot.run import FewShotResult, run_few_shot
from core.probes.few_shot.spec import FewShotSpec, parse_few_shot_spec
from core.probes.few_shot.work import few_shot_lower, few_shot_work
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
        spec_type: the class ``parse_spec`` returns (its ``raw`` is the document with defaults);
            the runner accepts it as well as a document, so a spec parsed once is handed down.
        work: its work in tokens through the model, per family, from a parsed spec (``core.runs.work``):
            what the time estimate and the work limit count.
        lower: from a spec document, the end of the work limit's sentence: the settings that make it smaller.
        words: one run of it in words, for a sentence ("a bias probe").
        main_table: its stored result -> the table its CSV export holds (one row per feature, candidate, ...).
        compare: two to four saved runs of it (``ComparedRun``) -> their comparison; None when the kind has
            no rule of its own (attribution runs compare feature by feature in ``core.present.compare``).
        report: its stored result -> its part of the HTML report (``core.present.report_parts.ReportSection``:
            the page's sentences, charts and tables); None: the report draws attribution results itself.
    """

    name: str
    title: str
    parse_spec: Callable[[dict[str, Any]], Any]
    run: Callable[..., JsonResult]
    result: type[JsonResult]
    spec_type: type
    work: Callable[[Any], dict[str, float]]
    lower: Callable[[dict[str, Any]], str]
    words: str
    main_table: Callable[[dict[str, Any]], Any]
    compare: Callable[..., Any] | None = None
    report: Callable[[dict[str, Any]], Any] | None = None


RUN_KINDS: dict[str, RunKind] = {
    kind.name: kind
    for kind in (
        RunKind(
            "attribution", "Attribution", parse_spec, run_attribution, RunResult, RunSpec,
            attribution_work, attribution_lower, "an attribution run", attribution_rows,
        ),
        RunKind(
            "bias", "Bias associations", parse_bias_spec, run_bias, BiasResult, BiasSpec,
            bias_work, bias_lower, "a bias probe", verdict_rows, compare_bias_runs, bias_report,
        ),
        RunKind(
            "few_shot", "Few-shot prompts", parse_few_shot_spec, run_few_shot, FewShotResult, FewShotSpec,
            few_shot_work, few_shot_lower, "a few-shot probe", export_frame, compare_few_shot_runs, few_shot_report,
        ),
        RunKind(
            "compare", "Methods compared", parse_compare_spec, run_compare, CompareResult, CompareSpec,
            compare_work, attribution_lower, "a comparison of methods", methods_table,
        ),
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


def parsed_kind(spec: Any) -> RunKind | None:
    """The kind whose parser made ``spec`` (an already parsed spec), or None for anything else."""
    for kind in RUN_KINDS.values():
        if isinstance(spec, kind.spec_type):
            return kind
    return None


_PARSED: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], Any] = OrderedDict()
_PARSED_LOCK = threading.Lock()
PARSED_KEPT = 16  # parsed specs remembered (a page's spec, its rerun, a few other tabs)


def _content_key(doc: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The spec's content and the settings a parser reads (``WHYLM_*``), or None when it is not JSON."""
    try:
        text = json.dumps(doc, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return text, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("WHYLM_")))


def parse(doc: Any) -> Any:
    """A spec parsed by its kind's parser, once per content: the page, the estimate and the run share it.

    An already parsed spec is returned as it is. A document is looked up by its JSON content (and
    the ``WHYLM_*`` settings a parser reads); the parsed spec is kept, so the title, the time
    estimate, the form's check, the engine and the save of one Run parse it once. Parsed specs
    are shared: treat them as read-only.

    Raises:
        SpecError: the document is not a spec of any kind, or its kind's parser refuses it.
    """
    if parsed_kind(doc) is not None:
        return doc
    kind = run_kind(doc)
    key = _content_key(doc)
    if key is not None:
        with _PARSED_LOCK:
            if key in _PARSED:
                _PARSED.move_to_end(key)
                return _PARSED[key]
    parsed = kind.parse_spec(doc)
    if key is not None:
        with _PARSED_LOCK:
            _PARSED[key] = parsed
            while len(_PARSED) > PARSED_KEPT:
                _PARSED.popitem(last=False)
    return parsed


def forget_parsed() -> None:
    """Drop every remembered parse (tests that change what a parser reads)."""
    with _PARSED_LOCK:
        _PARSED.clear()


def result_from_dict(doc: Any) -> JsonResult:
    """A result document read back into its kind's result class (a sentence when it is not one)."""
    try:
        kind = run_kind(doc)
    except SpecError as exc:
        raise WhyLMError(f"This is not a WhyLM result: {exc}") from None
    return kind.result.from_dict(doc)
