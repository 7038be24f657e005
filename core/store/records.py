"""Plain, frozen records that the repository returns (no ORM objects leave the store)."""

from __future__ import annotations

from dataclasses import dataclass
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
class RunSummary:
    """One row of the saved-runs table: everything about a run except its documents."""

    id: int
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
    note_count: int


@dataclass(frozen=True)
class RunRecord:
    """A whole saved run: the summary columns plus the parsed spec and result and the notes."""

    id: int
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
    spec: dict[str, Any]
    result: dict[str, Any] | None
    notes: tuple[ReviewNote, ...]

    @property
    def summary(self) -> RunSummary:
        """Return this run as a :class:`RunSummary`."""
        return RunSummary(
            id=self.id,
            kind=self.kind,
            title=self.title,
            model_name=self.model_name,
            model_revision=self.model_revision,
            method=self.method,
            status=self.status,
            error=self.error,
            seconds=self.seconds,
            created_at=self.created_at,
            tags=self.tags,
            note_count=len(self.notes),
        )
