"""Plain, frozen records that the repository returns (no ORM objects leave the store)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ReviewNote:
    """A reviewer's note on a run; ``verdict`` is "ok", "concern" or "needs review"."""

    id: int
    run_id: int
    author: str
    verdict: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class RunColumns:
    """The columns that describe a run, in table order (the store's records and imported runs share them)."""

    kind: str
    title: str
    model_name: str
    model_revision: str | None
    method: str | None
    status: str
    error: str | None
    seconds: float | None
    created_at: datetime
    tags: tuple[str, ...]


@dataclass(frozen=True)
class StoredRunId:
    """The id the store gave a run; a stored run's records list it first, before its :class:`RunColumns`."""

    id: int


# A dataclass lists the fields of its bases last base first, so ``(RunColumns, StoredRunId)``
# gives ``id`` first, then the run columns, then the class's own fields.


@dataclass(frozen=True)
class RunSummary(RunColumns, StoredRunId):
    """One row of the saved-runs table: everything about a run except its documents.

    Fields: ``id``, the :class:`RunColumns`, then ``note_count``.
    """

    note_count: int


@dataclass(frozen=True)
class RunRecord(RunColumns, StoredRunId):
    """A whole saved run: the summary columns plus the parsed spec and result and the notes.

    Fields: ``id``, the :class:`RunColumns`, then ``spec``, ``result`` and ``notes``.
    """

    spec: dict[str, Any]
    result: dict[str, Any] | None
    notes: tuple[ReviewNote, ...]

    @property
    def summary(self) -> RunSummary:
        """Return this run as a :class:`RunSummary`."""
        columns = {f.name: getattr(self, f.name) for f in fields(RunColumns)}
        return RunSummary(id=self.id, **columns, note_count=len(self.notes))
