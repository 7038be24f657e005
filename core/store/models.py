"""SQLAlchemy ORM models of the run store (the schema at the newest migration).

The migrations in ``core/store/migrations/versions`` are the source of truth for
the database; ``tests/store/test_store_migrations.py`` checks that these models match them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
)
from sqlalchemy.types import TypeDecorator

RUN_STATUSES = ("done", "failed", "stopped", "interrupted")  # interrupted: the server stopped mid-run
VERDICTS = ("ok", "concern", "needs review")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as a timezone-aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive values are taken as UTC); SQLite stores it without a zone."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class Run(Base):
    """One saved run: its spec and result documents plus the columns the list filters on."""

    __tablename__ = "runs"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}  # never reuse the id of a deleted run

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(500))
    model_name: Mapped[str] = mapped_column(String(500), index=True)
    model_revision: Mapped[str | None] = mapped_column(String(200), nullable=True)
    method: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, default=utc_now)
    # The documents are deferred: list queries never load them.
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)

    tags: Mapped[list[RunTag]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    notes: Mapped[list[Note]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class RunTag(Base):
    """A tag on a run (a run has each tag at most once)."""

    __tablename__ = "run_tags"
    __table_args__ = (Index("ix_run_tags_tag", "tag"),)

    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_run_tags_run_id"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)

    run: Mapped[Run] = relationship(back_populates="tags")


class Note(Base):
    """A reviewer's note on a run, with a verdict: "ok", "concern" or "needs review"."""

    __tablename__ = "review_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_review_notes_run_id"), index=True
    )
    author: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    run: Mapped[Run] = relationship(back_populates="notes")
