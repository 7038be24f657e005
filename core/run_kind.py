"""What a run kind is: the ``RunKind`` record each kind's folder fills in (``core.kinds`` lists them).

A kind's folder writes one ``KIND = RunKind(...)`` (``core/probes/bias/kind.py`` is the model), and
``core/kinds.py`` lists it in one line. Everything outside the folder reads the kind through this
record: the engine (parser, runner), the time estimate and the work limit (``work``, ``lower``,
``prompt_texts``), the store's titles (``asks_about``), exports (``main_table``), the HTML report and
the generic result view (``report``), comparisons (``compare``), the progress line (``progress_words``),
what happens once a run is saved (``after_save``) and links from a saved run's item to another page
(``item_spec``). This module imports nothing of the project, so a kind's folder can import it without
importing the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PromptText = tuple[str, str, str]
"""(spec field, the text in words, the text): a text a run feeds the model, checked against its context."""


@dataclass(frozen=True)
class ItemSpec:
    """One item of a saved run, as the spec another page's form opens with (a study item's contrast).

    Attributes:
        spec: the spec document (its ``kind`` says which page takes it).
        title: the title the form shows while the spec is unchanged.
        revision: the revision its model recorded (pinned as a saved run's model is), or None.
    """

    spec: dict[str, Any]
    title: str
    revision: str | None = None


@dataclass(frozen=True)
class RunKind:
    """One kind of run.

    Attributes:
        name: the spec's ``kind`` value.
        title: the kind in words, for tables, reports and its page's heading.
        parse_spec: validates a spec document of this kind (``SpecError`` on a problem).
        run: runs a spec: ``run(spec, progress=, should_stop=, lm=, loader=)``; it accepts a parsed spec.
        result: the result class (a ``core.result_json.JsonResult``) of this kind.
        spec_type: the class ``parse_spec`` returns (its ``raw`` is the document with defaults).
        work: its work in tokens through the model, per family, from a parsed spec (``core.runs.work``):
            what the time estimate and the work limit count.
        lower: from a spec document, the end of the work limit's sentence: the settings that make it smaller.
        words: one run of it in words, for a sentence ("a bias probe").
        main_table: its stored result -> the table its CSV export holds (one row per feature, candidate, ...).
        asks_about: from a spec document, the text the run asks about (its saved title when none is typed):
            the prompt, the template, the instruction; "" when the spec has none yet.
        compare: two to four saved runs of it (``core.present.compare.ComparedRun``) -> their comparison as a
            ``core.present.report_parts.ReportSection`` (``WhyLMError`` with a sentence when they cannot be
            compared); None when the kind has no rule of its own (attribution runs compare feature by feature).
        report: its stored result -> its part of the HTML report (a ``ReportSection``: the page's sentences,
            charts and tables), which is also what the dashboard draws when the kind has no view of its own;
            None: the report draws attribution results itself.
        prompt_texts: from a spec document, the texts it feeds the model (checked against the model's context
            before it runs, a sentence naming the field when one is too long); None: nothing to check.
        legacy_fields: result fields that name this kind in results saved before results carried ``kind``.
        progress_words: (spec document, done, total) as its runner reports progress -> the progress line's
            words ("12 of 40 items scored (model 1 of 2)"); None: its runner counts forward passes.
        after_save: a finished run's result, once it is saved (dashboard, command line) -> cleans what the
            kind kept to continue a stopped run (a study's stored batches); None: nothing to clean.
        item_spec: (stored result, item index, model index) -> :class:`ItemSpec`, what a link
            ``?from_run=ID&item=I&model=K`` opens (``WhyLMError`` with a sentence when that item has none);
            None: its items have no such links.
    """

    name: str
    title: str
    parse_spec: Callable[[dict[str, Any]], Any]
    run: Callable[..., Any]
    result: type
    spec_type: type
    work: Callable[[Any], dict[str, float]]
    lower: Callable[[dict[str, Any]], str]
    words: str
    main_table: Callable[[dict[str, Any]], Any]
    asks_about: Callable[[dict[str, Any]], str]
    compare: Callable[..., Any] | None = None
    report: Callable[[dict[str, Any]], Any] | None = None
    prompt_texts: Callable[[dict[str, Any]], list[PromptText]] | None = None
    legacy_fields: tuple[str, ...] = ()
    progress_words: Callable[[dict[str, Any], int, int], str] | None = None
    after_save: Callable[[dict[str, Any]], Any] | None = None
    item_spec: Callable[[dict[str, Any], int, int], ItemSpec] | None = None

