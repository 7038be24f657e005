"""What a run is saved as, on every path: the spec as the engine ran it, and the result in its current format.

The dashboard (``ui.shared.run_job``), ``python -m core run --save`` and an import (the
Saved runs page, ``python -m core runs import``) all save a run through this
module, so one input is saved the same way whichever path saved it:

- the spec is the *normalised* spec, the document the result's ``spec`` field
  holds (defaults filled in; each result class's ``spec_document``), never the
  form's or the file's document as given;
- the result is read back through its kind's result class (``core.kinds``), so
  a result of an older format (a run saved before the code was regrouped) is
  saved in the current one.

The store itself reads no run kind (``docs/ARCHITECTURE.md``): it saves the
documents this module gives it. Documents that are not WhyLM results are kept
as given, except in an import: an imported result is read as strictly as a
computed one (its kind's result class checks every field), and refused with a
sentence when it is not one (:func:`imported_documents`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from core.errors import SpecError, WhyLMError
from core.kinds import DEFAULT_KIND, RUN_KINDS, parse, result_from_dict, run_kind
from core.result_json import JsonResult
from core.store import RunRepository
from core.store.fields import clean_tags, clean_title, default_title


def read_result(result: Any) -> JsonResult | None:
    """``result`` read back into its kind's result class (upgraded to the current format), or None.

    None means the document is not a result that WhyLM reads (not an object, no run kind,
    or missing fields); the caller keeps such a document as it is.
    """
    if isinstance(result, JsonResult):
        return result
    if not isinstance(result, dict):
        return None
    try:
        return result_from_dict(result)
    except WhyLMError:
        return None


def normalised_spec(spec: Any) -> Any:
    """The spec as its kind's engine runs it (defaults filled in); the spec as given when it cannot run.

    A run that failed on its spec (a field to fix) keeps the document as written, so the
    saved run shows what was asked for.
    """
    try:
        return copy.deepcopy(
            parse(spec).raw
        )  # parsed once per content (core.kinds.parse): the Run's parse serves the save
    except WhyLMError:
        return spec


def saved_documents(
    spec: dict[str, Any], result: JsonResult | dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The (spec, result) documents a run is saved as.

    With a WhyLM result the spec is the result's ``spec`` (the normalised spec) and the
    result its current-format ``to_dict()``; without one (a failed or stopped run) the
    spec is :func:`normalised_spec`. A result WhyLM does not read is kept, with its spec,
    as given.

    Args:
        spec: the spec document the run was started with.
        result: the run's result object, its dict (of any format), or None.
    """
    read = read_result(result)
    if read is not None:
        doc = read.to_dict()
        return copy.deepcopy(doc["spec"]), doc
    if isinstance(result, dict):
        return spec, result
    return normalised_spec(spec), None


def store_for_saving(
    title: str | None = None, tags: Iterable[str] = (), url: str | None = None
) -> RunRepository:
    """The run store, checked before a run is computed: it opens, takes a write, and the title and tags fit.

    ``python -m core run --save`` and the dashboard call this before they start a run, so a
    read-only folder, an out-of-date or damaged database, or a title that is too long is
    said at once, not after the run has been computed.

    Raises:
        StoreError: a sentence saying what to fix.
    """
    repo = RunRepository(url)
    check_can_save(repo, title, tags)
    return repo


def rerun_spec(run_id: int, url: str | None = None) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    """(spec, title, tags) of saved run ``run_id``: what "Run again" and ``python -m core run --resume ID`` run.

    A bias study run again scores only the items its stopped run had not stored (its checkpoint).

    Raises:
        WhyLMError: there is no such run, or it has no spec to run.
    """
    record = RunRepository(url).get_run(run_id)
    if not isinstance(record.spec, dict) or not record.spec:
        raise WhyLMError(f"Run {run_id} has no spec to run again.")
    return dict(record.spec), record.title, tuple(record.tags)


def check_can_save(repo: RunRepository, title: str | None = None, tags: Iterable[str] = ()) -> None:
    """Raise a StoreError sentence unless a run with this title and tags can be saved in ``repo`` now.

    Cheap (no row is written): for a page to call before it starts a run.
    """
    if title is not None and title.strip():
        clean_title(title)
    clean_tags(tags)
    repo.check_writable()


IMPORTED_TAG = "imported"
TITLE_LENGTH = 80


def asked_text(spec: Any) -> str:
    """The text a run's spec asks about, by its kind's ``asks_about`` (the prompt, the template, the
    instruction), whitespace folded; "" when the spec has none or is not a spec of any kind."""
    if not isinstance(spec, dict):
        return ""
    try:
        text = run_kind(spec).asks_about(spec)
    except SpecError:
        return ""
    return " ".join(text.split()) if isinstance(text, str) else ""


def title_for(spec: Any, kind: str | None = None) -> str:
    """The title a run is saved with when none is typed: the start of what it asks about (``asked_text``);
    without any, the store's default (kind and model)."""
    kind = kind or (spec.get("kind") if isinstance(spec, dict) else None) or DEFAULT_KIND
    text = asked_text(spec)
    if not text:
        return default_title(spec, kind)
    return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"


def save_run(
    repo: RunRepository,
    spec: dict[str, Any],
    result: JsonResult | dict[str, Any] | None,
    title: str | None = None,
    tags: Iterable[str] = (),
    status: str = "done",
    error: str | None = None,
) -> int:
    """Save a finished run (done, failed or stopped) as :func:`saved_documents` says; the new run id.

    A run that is done is then handed to its kind's ``after_save`` (a study's stored batches are removed).

    Args:
        repo: the run store.
        spec: the spec the run was started with.
        result: the run's result (object or dict), or None when it has none.
        title: the run's title; without one, the start of its prompt.
        tags, status, error: the run's other columns.
    """
    spec, saved = saved_documents(spec, result)
    kind = next(
        (doc["kind"] for doc in (saved, spec) if isinstance(doc, dict) and isinstance(doc.get("kind"), str)),
        DEFAULT_KIND,
    )
    run_id = repo.save_run(
        kind=kind,
        title=title if title and title.strip() else title_for(spec, kind),
        spec=spec,
        result=saved,
        status=status,
        error=error,
        tags=tags,
    )
    after = RUN_KINDS[kind].after_save if kind in RUN_KINDS else None
    if status == "done" and isinstance(saved, dict) and after is not None:
        after(saved)  # saved: what the kind kept to continue a stopped run is no longer needed
    return run_id


def imported_documents(
    spec: dict[str, Any], result: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The (spec, result) documents an imported run is saved as: :func:`saved_documents` of a checked result.

    Raises:
        WhyLMError: the result is not a WhyLM result of a known kind, or a field of it does not
            have the type its result class declares (a sentence naming the field).
    """
    return saved_documents(spec, None if result is None else result_from_dict(result))


def marked_imported(doc: Any) -> Any:
    """The export document with each run tagged ``imported`` (a copy; anything else is left as it is)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        return doc
    runs = []
    for entry in doc["runs"]:
        if isinstance(entry, dict):
            tags = entry.get("tags")
            tags = list(tags) if isinstance(tags, list | tuple) else [] if tags is None else [tags]
            entry = {**entry, "tags": [*tags, IMPORTED_TAG]}
        runs.append(entry)
    return {**doc, "runs": runs}


def import_runs(repo: RunRepository, doc: Any) -> list[int]:
    """Import the runs of an export document (all or none), saved as :func:`imported_documents` says.

    Every imported run carries the tag ``imported``, so it is told apart from the runs made here.
    """
    return repo.import_runs(marked_imported(doc), prepare=imported_documents)
