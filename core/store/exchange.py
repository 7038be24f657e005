"""The export document: runs as one JSON object that another WhyLM database can import.

``{"whylm_export": 1, "exported_at": ..., "runs": [{kind, title, tags, status, error,
spec, result, notes, ...}]}``; importing it back gives equal runs under new ids.

The store reads no run kind, so an import keeps each run's spec and result as exported
unless the caller passes ``prepare``: ``core.saved_runs`` passes the function that saves
them as every other path does (the normalised spec, the result in the current format,
so an export of an older WhyLM is saved in today's shapes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.store.errors import StoreError
from core.store.fields import (
    clean_kind,
    clean_status,
    clean_tags,
    clean_title,
    clean_verdict,
)
from core.store.models import utc_now
from core.store.records import RunColumns, RunRecord

EXPORT_FORMAT = 1

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
    """Parse an ISO time (missing means now; naive means UTC)."""
    if value is None:
        return utc_now()
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _bad(where, f"has created_at {value!r}, which is not an ISO date and time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional_text(entry: dict[str, Any], key: str, where: str) -> str | None:
    """Return ``entry[key]`` if it is text or missing/None."""
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(where, f"has a {key} that is not text")
    return value


def _parse_run(entry: Any, where: str, prepare: PrepareDocuments | None = None) -> ImportedRun:
    """Check one run of an export document; ``prepare`` gives the documents it is saved with."""
    if not isinstance(entry, dict):
        raise _bad(where, "is not an object")
    spec, result = entry.get("spec"), entry.get("result")
    if not isinstance(spec, dict):
        raise _bad(where, "has no spec object")
    if result is not None and not isinstance(result, dict):
        raise _bad(where, "has a result that is not an object")
    seconds = entry.get("seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))):
        raise _bad(where, "has seconds that are not a number")
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
        spec, result = prepare(spec, result)
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
