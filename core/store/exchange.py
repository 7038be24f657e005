"""The export document: runs as one JSON object that another WhyLM database can import.

``{"whylm_export": 1, "exported_at": ..., "runs": [{kind, title, tags, status, error,
spec, result, notes, ...}]}``; importing it back gives equal runs under new ids.

The store reads no run kind, so an import keeps each run's spec and result as exported
unless the caller passes ``prepare``: ``core.runs.saved`` passes the function that saves
them as every other path does (the normalised spec, the result in the current format,
so an export of an older WhyLM is saved in today's shapes).

An import is checked before anything is saved: the file's size (``WHYLM_IMPORT_MAX_MB``),
its shape before it is parsed (at most ``MAX_IMPORT_VALUES`` values, ``MAX_IMPORT_DEPTH`` levels:
a bounded scan, so memory stays bounded whatever the file), its JSON, every run's columns (texts that fit their columns, times from 1970 to 2199, a
run time in seconds) and documents (bounded nesting, texts and numbers); ``prepare``
checks the results against their kinds' result classes. Anything else is refused with a
sentence, and nothing is saved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from core.errors import WhyLMError
from core.store.config import IMPORT_MAX_MB_ENV, import_max_bytes
from core.store.errors import StoreError
from core.store.fields import (
    MAX_DOCUMENT_DEPTH,
    clean_kind,
    clean_status,
    clean_tags,
    clean_title,
    clean_verdict,
    document_problem,
    length_problem,
    seconds_problem,
)
from core.store.models import utc_now
from core.store.records import RunColumns, RunRecord

EXPORT_FORMAT = 1
FIRST_YEAR, LAST_YEAR = 1970, 2199
"""The years a run or note may have been created in."""
MAX_IMPORT_VALUES = 5_000_000
"""The most values an import parses, each list or object counting twice: a parsed value takes at most
about 64 bytes, so the parsed document stays under about 320 MB (beside the file's text) whatever the
file holds. A real 46 MB export holds about 4.1 million."""
MAX_IMPORT_DEPTH = MAX_DOCUMENT_DEPTH + 3
"""The most levels of lists and objects in an export file: the document, its runs, a run, then a spec
or result nested at most ``MAX_DOCUMENT_DEPTH`` levels."""
_JSON_TEXT = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
MAKE_ONE = "make one with `python -m core runs export` or the Saved runs page's Export"

Documents = tuple[dict[str, Any], dict[str, Any] | None]
PrepareDocuments = Callable[[dict[str, Any], dict[str, Any] | None], Documents]
"""``prepare(spec, result) -> (spec, result)``: the documents an imported run is saved with."""


@dataclass(frozen=True)
class ImportedNote:
    """A note read from an export document."""

    author: str
    verdict: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class ImportedRun(RunColumns):
    """A run read (and checked) from an export document: the :class:`RunColumns`, spec, result and notes."""

    spec: dict[str, Any]
    result: dict[str, Any] | None
    notes: tuple[ImportedNote, ...]


def export_document(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Return the export document of ``records``."""
    return {
        "whylm_export": EXPORT_FORMAT,
        "exported_at": utc_now().isoformat(),
        "runs": [
            {
                "id": r.id,
                "kind": r.kind,
                "title": r.title,
                "model_name": r.model_name,
                "model_revision": r.model_revision,
                "method": r.method,
                "status": r.status,
                "error": r.error,
                "seconds": r.seconds,
                "created_at": r.created_at.isoformat(),
                "tags": list(r.tags),
                "spec": r.spec,
                "result": r.result,
                "notes": [
                    {
                        "author": n.author,
                        "verdict": n.verdict,
                        "text": n.text,
                        "created_at": n.created_at.isoformat(),
                    }
                    for n in r.notes
                ],
            }
            for r in records
        ],
    }


def _bad(where: str, what: str) -> StoreError:
    """Return the error for a malformed part of an import document."""
    return StoreError(f"The import document is not a WhyLM export: {where} {what}.")


def _time(value: Any, where: str) -> datetime:
    """Parse an ISO time (missing means now; naive means UTC) from ``FIRST_YEAR`` to ``LAST_YEAR``."""
    if value is None:
        return utc_now()
    shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:37] + "...")
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError):
        raise _bad(where, f"has created_at {shown}, which is not an ISO date and time") from None
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first day Python can hold in UTC
        moment = None
    if moment is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise _bad(where, f"has created_at {shown}, outside the years {FIRST_YEAR} to {LAST_YEAR}")
    return moment


def _optional_text(entry: dict[str, Any], key: str, where: str) -> str | None:
    """Return ``entry[key]`` if it is text (that fits its column) or missing/None."""
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(where, f"has a {key} that is not text")
    problem = length_problem(value, key)
    if problem:
        raise _bad(where, f"has {problem}")
    return value


def _check_document(doc: Any, where: str, what: str) -> None:
    """Refuse a spec or result that is too deep, too long or holds numbers too large to use."""
    problem = document_problem(doc)
    if problem:
        raise _bad(where, f"has a {what} that {problem}")


def _parse_run(entry: Any, where: str, prepare: PrepareDocuments | None = None) -> ImportedRun:
    """Check one run of an export document; ``prepare`` gives the documents it is saved with."""
    if not isinstance(entry, dict):
        raise _bad(where, "is not an object")
    spec, result = entry.get("spec"), entry.get("result")
    if not isinstance(spec, dict):
        raise _bad(where, "has no spec object")
    if result is not None and not isinstance(result, dict):
        raise _bad(where, "has a result that is not an object")
    _check_document(spec, where, "spec")
    if result is not None:
        _check_document(result, where, "result")
        if "kind" in result and result["kind"] != entry.get("kind"):
            raise _bad(where, f"is a {entry.get('kind')!r} run holding a result of kind {result['kind']!r}")
    seconds = entry.get("seconds")
    problem = seconds_problem(seconds)
    if problem:
        raise _bad(where, f"has {problem}")
    notes_in = entry.get("notes") or []
    if not isinstance(notes_in, list):
        raise _bad(where, "has notes that are not a list")
    notes = []
    for j, note in enumerate(notes_in):
        nwhere = f"{where}, note {j + 1},"
        if not isinstance(note, dict) or not isinstance(note.get("text"), str):
            raise _bad(nwhere, "has no text")
        author = note.get("author")
        if not isinstance(author, str) or not author.strip():
            raise _bad(nwhere, "has no author")
        for key in ("author", "text"):
            _optional_text(note, key, nwhere)
        try:
            verdict = clean_verdict(note.get("verdict"))
        except StoreError:
            raise _bad(nwhere, f"has the verdict {note.get('verdict')!r}, not ok, concern or needs review") from None
        notes.append(
            ImportedNote(
                author=author.strip(),
                verdict=verdict,
                text=note["text"],
                created_at=_time(note.get("created_at"), nwhere),
            )
        )
    texts = {k: _optional_text(entry, k, where) for k in ("model_name", "model_revision", "method", "error")}
    if prepare is not None:
        try:
            spec, result = prepare(spec, result)
        except WhyLMError as exc:
            raise StoreError(f"The import document's {where} is not valid: {exc}") from None
    try:
        return ImportedRun(
            kind=clean_kind(entry.get("kind")),
            title=clean_title(entry.get("title")),
            model_name=texts["model_name"] or "",
            model_revision=texts["model_revision"],
            method=texts["method"],
            status=clean_status(entry.get("status", "done")),
            error=texts["error"],
            seconds=None if seconds is None else float(seconds),
            created_at=_time(entry.get("created_at"), where),
            tags=clean_tags(entry.get("tags") or ()),
            spec=spec,
            result=result,
            notes=tuple(notes),
        )
    except StoreError as exc:
        raise StoreError(f"The import document's {where} is not valid: {exc}") from None


def parse_document(doc: Any, prepare: PrepareDocuments | None = None) -> list[ImportedRun]:
    """Check an export document and return its runs; raise a sentence if it is malformed.

    ``prepare(spec, result)`` gives the documents each run is saved with (default: as exported).
    """
    if not isinstance(doc, dict) or "whylm_export" not in doc:
        raise StoreError(
            "The import document is not a WhyLM export (it has no \"whylm_export\" key); "
            "make one with `python -m core runs export`."
        )
    if doc["whylm_export"] != EXPORT_FORMAT:
        raise StoreError(
            f"The import document has export format {doc['whylm_export']!r}, but this WhyLM "
            f"reads format {EXPORT_FORMAT}; import it with the WhyLM that exported it."
        )
    runs = doc.get("runs")
    if not isinstance(runs, list):
        raise _bad("its", "\"runs\" is not a list")
    return [_parse_run(entry, f"run {i + 1}", prepare) for i, entry in enumerate(runs)]


# --- reading an export file: capped in size, a sentence for anything that is not JSON ----


def read_export(name: str, stdin: IO[Any] | None = None) -> bytes:
    """The bytes of the export file ``name`` ("-" reads ``stdin``), reading at most the cap and one byte.

    ``stdin`` may be binary (``sys.stdin.buffer``) or text (then the cap counts characters).

    Raises:
        StoreError: the file cannot be read, or is larger than ``WHYLM_IMPORT_MAX_MB``
            (``/dev/zero`` is refused after the cap, never read whole).
    """
    cap = import_max_bytes()
    try:
        if name == "-":
            if stdin is None:
                raise StoreError("There is no standard input to read an export from; give a file name.")
            data = stdin.read(cap + 1)
            if isinstance(data, str):
                data = data.encode("utf-8")
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(cap + 1)
    except OSError as exc:
        raise StoreError(f"Cannot read {name} ({exc.strerror or exc}); check the file name.") from None
    check_export_size(len(data), name, cap)
    return data


def check_export_size(size: int, name: str, cap: int | None = None) -> None:
    """Refuse an export of ``size`` bytes above the cap (``WHYLM_IMPORT_MAX_MB``) with a sentence."""
    cap = import_max_bytes() if cap is None else cap
    if size > cap:
        raise StoreError(
            f"{name} is larger than {cap / 1024 / 1024:g} MB, the most an import reads; export fewer "
            f"runs at a time, or raise {IMPORT_MAX_MB_ENV} if the file really is an export."
        )


def load_export(data: bytes, name: str) -> Any:
    """The JSON document in an export file's bytes (size-checked first); a sentence if it is none.

    Raises:
        StoreError: too large, not UTF-8 text, not JSON, or nested too deeply for JSON to read.
    """
    check_export_size(len(data), name)
    check_export_shape(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StoreError(f"{name} is not text (not UTF-8); give a JSON file ({MAKE_ONE}).") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise StoreError(
            f"{name} nests lists and objects too deeply for JSON to read; give a file made by WhyLM "
            f"({MAKE_ONE})."
        ) from None
    except ValueError as exc:
        raise StoreError(f"{name} is not valid JSON ({exc}); give a file made by WhyLM ({MAKE_ONE}).") from None


def check_export_shape(data: bytes, name: str) -> None:
    """Refuse JSON bytes with more values than ``MAX_IMPORT_VALUES`` or deeper than ``MAX_IMPORT_DEPTH``.

    A bounded scan before parsing, so a file of 16 million ``{}`` (46 MB) is refused in about a second
    in little memory instead of being parsed into gigabytes: texts are dropped (each is one value), then
    commas, colons and opening brackets are counted; the nesting is measured on the brackets alone once
    the count is known to be small. Text that is not JSON passes through to the parser's own sentence.

    Raises:
        StoreError: a sentence naming the count or depth and the limit.
    """
    structure = _JSON_TEXT.sub(b"", data)
    containers = structure.count(b"{") + structure.count(b"[")
    values = structure.count(b",") + structure.count(b":") + 2 * containers
    if values > MAX_IMPORT_VALUES:
        raise StoreError(
            f"{name} holds about {values:,} values (numbers, texts, lists and objects), more than the "
            f"{MAX_IMPORT_VALUES:,} an import reads; export fewer runs at a time ({MAKE_ONE})."
        )
    brackets = _NOT_BRACKET.sub(b"", structure)
    del structure
    depth = deepest = 0
    for char in brackets:  # bytes: the ints of [ { ] }
        depth += 1 if char in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_IMPORT_DEPTH:
                raise StoreError(
                    f"{name} nests lists and objects too deeply (more than {MAX_IMPORT_DEPTH} levels, deeper "
                    f"than any WhyLM export); give a file made by WhyLM ({MAKE_ONE})."
                )
