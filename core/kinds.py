"""The run kinds, one line each: every kind's ``RunKind`` record (``core.run_kind``), in one registry.

A spec's ``kind`` field names its entry here; ``core.engine.run`` dispatches
through it, and whatever reads a saved result (the store's import, the
report, the dashboard's views, exports, comparisons, the time estimate and the
work limit) reads the kind's record from it. A kind's folder writes its record
(``core/probes/bias/kind.py``); adding a kind is adding its ``KIND`` to :data:`RUN_KINDS`
below. The two attribution kinds are written here: their presentation lives in
``core.present``, which ``core.attribution`` may not import.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import Any

from core.attribution.comparison import CompareResult, CompareSpec, parse_compare_spec, run_compare
from core.attribution.engine import run_attribution
from core.attribution.prompt_length import attribution_prompt_texts
from core.attribution.result import RunResult
from core.attribution.spec import RunSpec, parse_spec
from core.attribution.work import attribution_lower, attribution_work, compare_work
from core.errors import SpecError, WhyLMError
from core.present.export_tables import attribution_rows
from core.present.method_comparison import methods_table
from core.probes.bias import kind as bias
from core.probes.documents import kind as documents
from core.probes.few_shot import kind as few_shot
from core.probes.studies import kind as studies
from core.result_json import JsonResult
from core.run_kind import RunKind
from core.text import shown


def prompt_text(spec: dict[str, Any]) -> str:
    """What an attribution run (or a comparison of methods) asks about: its prompt's text or template."""
    prompt = spec.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, dict):
        for key in ("text", "template"):
            if isinstance(prompt.get(key), str):
                return prompt[key]
    return ""


ATTRIBUTION = RunKind(
    name="attribution",
    title="Attribution",
    parse_spec=parse_spec,
    run=run_attribution,
    result=RunResult,
    spec_type=RunSpec,
    work=attribution_work,
    lower=attribution_lower,
    words="an attribution run",
    main_table=attribution_rows,
    asks_about=prompt_text,
    prompt_texts=attribution_prompt_texts,
)
METHODS_COMPARED = RunKind(
    name="compare",
    title="Methods compared",
    parse_spec=parse_compare_spec,
    run=run_compare,
    result=CompareResult,
    spec_type=CompareSpec,
    work=compare_work,
    lower=attribution_lower,
    words="a comparison of methods",
    main_table=methods_table,
    asks_about=prompt_text,
    prompt_texts=attribution_prompt_texts,
)

RUN_KINDS: dict[str, RunKind] = {
    kind.name: kind
    for kind in (
        ATTRIBUTION,
        bias.KIND,
        few_shot.KIND,
        documents.KIND,
        METHODS_COMPARED,
        studies.KIND,
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


def stored_kind(result: Any) -> RunKind | None:
    """The kind of a stored result: its ``kind`` field, or for a result saved before results carried one,
    the kind whose ``legacy_fields`` it has; None when it names no kind (an attribution result of an older
    format, or not a result)."""
    if not isinstance(result, dict):
        return None
    name = result.get("kind")
    if name is None:
        name = next((k.name for k in RUN_KINDS.values() if any(f in result for f in k.legacy_fields)), None)
    return RUN_KINDS.get(name) if isinstance(name, str) else None


def progress_words(spec: Any, done: int, total: int) -> str:
    """A run's progress in words: its kind's (``RunKind.progress_words``), else "12 of 40 forward passes"."""
    try:
        kind = run_kind(spec)
    except SpecError:
        kind = None
    if kind is not None and kind.progress_words is not None:
        return kind.progress_words(spec, done, total)
    return f"{done:,} of {total:,} forward passes"


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
