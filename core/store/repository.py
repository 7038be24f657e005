"""The run repository: the only way pages, the CLI and probes read and write saved runs.

Every method opens and closes its own session, so callers only ever see the frozen
records of ``core.store.records``. Each write is one transaction: never half-written.
Nothing is written into a database found damaged (``core.store.health``), and a row that
cannot be read is named by its run id, never shown as the bytes it holds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Engine, Select, delete, false, func, insert, literal, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.store import exchange
from core.store.config import database_url, normalise_url
from core.store.database import describe_url, open_engine
from core.store.errors import StoreError
from core.store.fields import (
    clean_kind,
    clean_status,
    clean_tags,
    clean_title,
    clean_verdict,
    derive_method,
    derive_model_name,
    derive_model_revision,
    derive_seconds,
    dump_document,
)
from core.store.health import CHECK_COMMAND, damage, damaged_sentence, failure
from core.store.models import Note, Run, RunTag, utc_now
from core.store.records import ReviewNote, RunRecord, RunSummary

SUMMARY_COLUMNS = (
    Run.id,
    Run.kind,
    Run.title,
    Run.model_name,
    Run.model_revision,
    Run.method,
    Run.status,
    Run.error,
    Run.seconds,
    Run.created_at,
)


def _as_utc(moment: datetime | date | None, end_of_day: bool = False) -> datetime | None:
    """Return a datetime in UTC (a date means its start, or its end for ``until``)."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time.max if end_of_day else time.min)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _note(row: Note) -> ReviewNote:
    """Return the frozen record of a note row."""
    return ReviewNote(
        id=row.id,
        run_id=row.run_id,
        author=row.author,
        verdict=row.verdict,
        text=row.text,
        created_at=row.created_at,
    )


class RunRepository:
    """Saved runs in the configured database (``url`` overrides the WhyLM configuration).

    Opening checks the database: a new one is created at the newest schema revision, an
    out-of-date, corrupt or foreign one is refused with a StoreError sentence.
    """

    def __init__(self, url: str | None = None) -> None:
        """Open (and check, or create) the database at ``url`` or the configured one."""
        self.url = normalise_url(url) if url else database_url()
        self._engine: Engine = open_engine(self.url)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def __repr__(self) -> str:
        """Show which database this repository uses (password hidden)."""
        return f"RunRepository({describe_url(self.url)!r})"

    # --- sessions -------------------------------------------------------------------

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        """Yield a session inside one transaction; turn database failures into sentences.

        A write into a database found damaged is refused before it begins. A stored value
        that cannot be read (text that is not UTF-8, a time that is no time) raises
        ``_UnreadableValue``, which the reading methods turn into :class:`UnreadableRun`, naming the run.
        """
        if write:
            self._refuse_if_damaged()
        try:
            with self._sessions.begin() as session:
                if write:  # take SQLite's write lock at BEGIN (see database._on_sqlite_begin)
                    session.connection(execution_options={"whylm_write": True})
                yield session
        except StoreError:
            raise
        except (DBAPIError, SQLAlchemyError) as exc:
            if _unreadable_value(exc):
                raise _UnreadableValue(self._shown) from None
            raise failure(self._shown, exc, self.url) from None
        except (ValueError, OverflowError) as exc:  # a stored value its column type cannot convert
            if write:
                raise
            raise _UnreadableValue(self._shown) from exc

    @property
    def _shown(self) -> str:
        """The database as it is safe to show in a sentence."""
        return describe_url(self.url)

    @property
    def damage(self) -> str | None:
        """What SQLite's checks found wrong with this database (None when nothing was found)."""
        return damage(self.url)

    def _refuse_if_damaged(self) -> None:
        """Raise the damaged-database sentence if this database was found damaged."""
        problem = self.damage
        if problem:
            raise StoreError(damaged_sentence(self._shown, problem))

    def check_writable(self) -> None:
        """Raise a StoreError sentence unless a run can be saved now (before a long run is computed).

        Cheap: it begins a write transaction and inserts no row (``INSERT ... SELECT ... WHERE
        false``), which a read-only file, a read-only role or a damaged database refuses.
        """
        probe = insert(RunTag).from_select(["run_id", "tag"], select(literal(0), literal("")).where(false()))
        with self._session(write=True) as session:
            session.execute(probe)

    def _unreadable_run(self, run_id: int) -> UnreadableRun:
        """The sentence for run ``run_id``, whose stored row cannot be read back."""
        return UnreadableRun(
            run_id,
            f"Run {run_id} cannot be read: its row in the database {self._shown} is damaged. Delete it "
            f"with `python -m core runs delete {run_id} --yes` (the other runs are not affected), and "
            f"run `{CHECK_COMMAND}` to look for other damage."
        )

    def _get(self, session: Session, run_id: int) -> Run:
        """Return the run row ``run_id`` or raise a sentence saying it does not exist or cannot be read."""
        try:
            run = session.get(Run, run_id) if isinstance(run_id, int) else None
        except (DBAPIError, ValueError, OverflowError) as exc:
            if isinstance(exc, DBAPIError) and not _unreadable_value(exc):
                raise
            raise self._unreadable_run(run_id) from None
        if run is None:
            if self.damage and run_id in self._known_ids():
                raise self._damaged_run(run_id)
            raise StoreError(f"There is no saved run with id {run_id!r}; see `python -m core runs list`.")
        return run

    def _damaged_run(self, run_id: int) -> UnreadableRun:
        """The sentence for run ``run_id``, which lies in a damaged part (page) of the database."""
        return UnreadableRun(
            run_id,
            f"Run {run_id} is in a damaged part of the database {self._shown}, so it cannot be read (the "
            f"runs in the other parts still read); run `{CHECK_COMMAND}` to see how to recover the database.",
        )

    # --- writing --------------------------------------------------------------------

    def save_run(
        self,
        kind: str,
        title: str,
        spec: dict[str, Any],
        result: dict[str, Any] | None,
        status: str = "done",
        error: str | None = None,
        tags: Iterable[str] = (),
        model_name: str | None = None,
        method: str | None = None,
        seconds: float | None = None,
        model_revision: str | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Save one run in one transaction and return its id.

        ``model_name``, ``method``, ``seconds`` and ``model_revision`` default to what the
        spec and the result's ``meta`` say (missing keys are fine).
        """
        if not isinstance(spec, dict):
            raise StoreError("A run's spec must be a JSON object (a dict).")
        if result is not None and not isinstance(result, dict):
            raise StoreError("A run's result must be a JSON object (a dict) or None.")
        row = Run(
            kind=clean_kind(kind),
            title=clean_title(title),
            model_name=(model_name or derive_model_name(spec, result))[:500],
            model_revision=model_revision or derive_model_revision(spec, result),
            method=method or derive_method(spec, result),
            status=clean_status(status),
            error=error,
            seconds=seconds if seconds is not None else derive_seconds(result),
            created_at=_as_utc(created_at) or utc_now(),
            spec_json=dump_document(spec, "spec"),
            result_json=None if result is None else dump_document(result, "result"),
        )
        row.tags = [RunTag(tag=tag) for tag in clean_tags(tags)]
        with self._session(write=True) as session:
            session.add(row)
            session.flush()
            return row.id

    def rename(self, run_id: int, title: str) -> None:
        """Give run ``run_id`` a new title."""
        title = clean_title(title)
        with self._session(write=True) as session:
            self._get(session, run_id).title = title

    def set_tags(self, run_id: int, tags: Iterable[str]) -> tuple[str, ...]:
        """Replace the tags of run ``run_id``; return the tags it has now."""
        cleaned = clean_tags(tags)
        with self._session(write=True) as session:
            self._get(session, run_id)
            session.execute(delete(RunTag).where(RunTag.run_id == run_id))
            session.add_all(RunTag(run_id=run_id, tag=tag) for tag in cleaned)
        return cleaned

    def delete(self, run_id: int) -> None:
        """Delete run ``run_id`` with its tags and notes (the database cascades); its row is not read.

        So a run whose row is damaged (:class:`UnreadableRun`) can be deleted.
        """
        with self._session(write=True) as session:
            gone = session.execute(delete(Run).where(Run.id == run_id)).rowcount if isinstance(run_id, int) else 0
            if not gone:
                raise StoreError(f"There is no saved run with id {run_id!r}; see `python -m core runs list`.")

    def add_note(self, run_id: int, author: str, verdict: str, text: str) -> ReviewNote:
        """Add a reviewer's note ("ok", "concern" or "needs review") to run ``run_id``."""
        verdict = clean_verdict(verdict)
        if not isinstance(author, str) or not author.strip():
            raise StoreError("A note needs an author: type your name.")
        if not isinstance(text, str):
            raise StoreError("A note's text must be text.")
        with self._session(write=True) as session:
            self._get(session, run_id)
            note = Note(run_id=run_id, author=author.strip()[:200], verdict=verdict, text=text)
            session.add(note)
            session.flush()
            return _note(note)

    # --- reading --------------------------------------------------------------------

    def count(self) -> int:
        """Return how many runs are saved."""
        with self._session() as session:
            return session.scalar(select(func.count()).select_from(Run)) or 0

    def list_runs(
        self,
        kind: str | None = None,
        model: str | None = None,
        method: str | None = None,
        tag: str | None = None,
        text: str | None = None,
        since: datetime | date | None = None,
        until: datetime | date | None = None,
        limit: int | None = None,
        status: str | None = None,
    ) -> list[RunSummary]:
        """Return summaries of the matching runs, newest first, without their documents.

        ``text`` searches titles (case-insensitive); ``since``/``until`` bound the creation
        time (inclusive; a date means the whole day). Only summary columns are read.
        """
        query: Select[Any] = select(*SUMMARY_COLUMNS)
        if kind:
            query = query.where(Run.kind == kind)
        if model:
            query = query.where(Run.model_name == model)
        if method:
            query = query.where(Run.method == method)
        if status:
            query = query.where(Run.status == status)
        if tag:
            query = query.where(
                select(RunTag.run_id).where(RunTag.run_id == Run.id, RunTag.tag == tag).exists()
            )
        if text:
            query = query.where(Run.title.icontains(text, autoescape=True))
        if since is not None:
            query = query.where(Run.created_at >= _as_utc(since))
        if until is not None:
            query = query.where(Run.created_at <= _as_utc(until, end_of_day=True))
        query = query.order_by(Run.created_at.desc(), Run.id.desc())
        whole = query
        if limit is not None:
            query = query.limit(max(0, int(limit)))
        try:
            return RunList(self._summaries(query))
        except _UnreadableValue as exc:
            damaged = self.unreadable_runs()
            if damaged:
                raise self._unreadable_run(damaged[0]) from None
            raise StoreError(
                f"A saved run in the database {self._shown} cannot be read; run `{CHECK_COMMAND}`."
            ) from exc
        except UnreadableRun:
            raise
        except StoreError:
            if not self.damage:  # a failure that is not damage: the sentence as it was
                raise
            return self._salvaged(whole, limit)

    def _salvaged(self, query: Select[Any], limit: int | None) -> RunList:
        """The runs ``query`` selects that still read in a damaged database, and the ids of those that do not.

        The ids come from every index of the runs table and from the table itself (read up to each
        damaged page, then past it); the runs are read a hundred at a time, and one at a time in
        a hundred that fails, so only the runs on damaged pages are left out.
        """
        ids = sorted(self._known_ids())
        found: list[RunSummary] = []
        unreadable: list[int] = []
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            try:
                found += self._summaries(query.where(Run.id.in_(chunk)))
                continue
            except StoreError:
                pass
            for run_id in chunk:
                try:
                    found += self._summaries(query.where(Run.id == run_id))
                except StoreError:
                    unreadable.append(run_id)
        found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        if limit is not None:
            found = found[: max(0, int(limit))]
        listed = RunList(found)
        listed.unreadable = tuple(unreadable)
        return listed

    def _known_ids(self) -> set[int]:
        """The run ids a damaged database still knows: from each index of the runs table, and from the table.

        Each read keeps the ids it got before a damaged page stopped it; the table is then read
        again from past the damaged page (found by doubling steps from the last id read).
        """
        ids: set[int] = set()
        indexes = [f"ix_runs_{c}" for c in ("created_at", "kind", "model_name", "method")]
        for index in indexes:
            self._read_ids(f"SELECT id FROM runs INDEXED BY {index} WHERE id > :after ORDER BY id", 0, ids)
        after = 0
        top = self._top_id()
        while True:
            stopped = self._read_ids("SELECT id FROM runs NOT INDEXED WHERE id > :after ORDER BY id", after, ids)
            if stopped is None:  # read to the end
                return ids
            step = 1
            while True:  # the first id that reads past the damaged page
                probe = stopped + step
                if probe >= (top if top is not None else 2**31):
                    return ids
                if self._read_ids("SELECT id FROM runs WHERE id > :after ORDER BY id LIMIT 1", probe, ids) is None:
                    break
                step *= 2
            after = probe

    def _read_ids(self, sql: str, after: int, into: set[int]) -> int | None:
        """Add the ids ``sql`` reads (after ``after``) to ``into``; the last id read before a failure, or None if none failed."""
        last = after
        try:
            with self._engine.connect() as conn:
                for (run_id,) in conn.execute(text(sql), {"after": after}):
                    into.add(int(run_id))
                    last = int(run_id)
        except (DBAPIError, SQLAlchemyError):
            return last
        return None

    def _top_id(self) -> int | None:
        """The highest run id ever given (SQLite's sequence of ids), or None when it cannot be read."""
        try:
            with self._engine.connect() as conn:
                return conn.execute(text("SELECT max(seq) FROM sqlite_sequence WHERE name = 'runs'")).scalar()
        except (DBAPIError, SQLAlchemyError):
            return None

    def _summaries(self, query: Select[Any]) -> list[RunSummary]:
        """The summaries of the runs ``query`` selects, with their tags and note counts."""
        with self._session() as session:
            rows = session.execute(query).all()
            if not rows:
                return []
            ids = query.with_only_columns(Run.id).subquery()
            tags: dict[int, list[str]] = defaultdict(list)
            for run_id, tag_name in session.execute(
                select(RunTag.run_id, RunTag.tag)
                .where(RunTag.run_id.in_(select(ids.c.id)))
                .order_by(RunTag.run_id, RunTag.tag)
            ):
                tags[run_id].append(tag_name)
            counts = dict(
                session.execute(
                    select(Note.run_id, func.count())
                    .where(Note.run_id.in_(select(ids.c.id)))
                    .group_by(Note.run_id)
                ).all()
            )
        return [
            RunSummary(
                id=row.id,
                kind=row.kind,
                title=row.title,
                model_name=row.model_name,
                model_revision=row.model_revision,
                method=row.method,
                status=row.status,
                error=row.error,
                seconds=row.seconds,
                created_at=row.created_at,
                tags=tuple(tags.get(row.id, ())),
                note_count=counts.get(row.id, 0),
            )
            for row in rows
        ]

    def get_run(self, run_id: int) -> RunRecord:
        """Return run ``run_id`` with its parsed spec and result, tags and notes.

        A run whose stored row cannot be read back is named in a sentence (its text is not shown).
        """
        try:
            with self._session() as session:
                run = self._get(session, run_id)
                spec_json, result_json = run.spec_json, run.result_json
                tags = tuple(sorted(t.tag for t in run.tags))
                notes = tuple(
                    _note(n)
                    for n in session.scalars(
                        select(Note).where(Note.run_id == run_id).order_by(Note.created_at, Note.id)
                    )
                )
                fields = {c.key: getattr(run, c.key) for c in SUMMARY_COLUMNS}
        except _UnreadableValue:
            raise self._unreadable_run(run_id) from None
        except UnreadableRun:
            raise
        except StoreError:
            if self.damage:
                raise self._damaged_run(run_id) from None
            raise
        try:
            spec = json.loads(spec_json)
            result = None if result_json is None else json.loads(result_json)
        except (ValueError, RecursionError):
            raise self._unreadable_run(run_id) from None
        return RunRecord(**fields, tags=tags, spec=spec, result=result, notes=notes)

    def unreadable_runs(self) -> list[int]:
        """The ids of the runs whose stored row (columns, documents, tags or notes) cannot be read back.

        Reads every run whole, one at a time: for ``python -m core db check`` and for naming
        the run behind a failed list, not for every page view.
        """
        if self._all_readable():
            return []
        try:
            with self._session() as session:
                ids = list(session.scalars(select(Run.id).order_by(Run.id)))
        except StoreError:
            if not self.damage:
                raise
            ids = sorted(self._known_ids())  # the ids still known past the damaged pages
        return [run_id for run_id in ids if not self._readable(run_id)]

    def _all_readable(self) -> bool:
        """Whether every run, tag and note reads back in one pass (then no run needs reading alone)."""
        try:
            with self._engine.connect() as conn:
                for row in conn.execute(select(Run.__table__)):
                    json.loads(row.spec_json)
                    if row.result_json is not None:
                        json.loads(row.result_json)
                conn.execute(select(RunTag.__table__)).all()
                conn.execute(select(Note.__table__)).all()
        except (DBAPIError, SQLAlchemyError, ValueError, OverflowError, RecursionError):
            return False
        return True

    def _readable(self, run_id: int) -> bool:
        """Whether run ``run_id``'s row, tags and notes read back, and its documents parse as JSON."""
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(Run.__table__).where(Run.id == run_id)).one()
                conn.execute(select(RunTag.__table__).where(RunTag.run_id == run_id)).all()
                conn.execute(select(Note.__table__).where(Note.run_id == run_id)).all()
            json.loads(row.spec_json)
            if row.result_json is not None:
                json.loads(row.result_json)
        except (DBAPIError, SQLAlchemyError, ValueError, OverflowError, RecursionError):
            return False
        return True

    def notes(self, run_id: int) -> list[ReviewNote]:
        """Return the notes on run ``run_id``, oldest first."""
        with self._session() as session:
            self._get(session, run_id)
            return [
                _note(n)
                for n in session.scalars(
                    select(Note).where(Note.run_id == run_id).order_by(Note.created_at, Note.id)
                )
            ]

    # --- moving runs between databases ---------------------------------------------

    def export_runs(self, ids: Sequence[int]) -> dict[str, Any]:
        """Return a JSON document holding runs ``ids`` whole (see :func:`import_runs`)."""
        return exchange.export_document([self.get_run(run_id) for run_id in ids])

    def export_readable(self, ids: Sequence[int]) -> tuple[dict[str, Any], list[UnreadableRun]]:
        """The export document of the runs of ``ids`` that read, and the sentences of those that do not.

        For a damaged database: the runs in its sound parts are exported, each run that cannot
        be read is named (a run that does not exist is still an error).
        """
        records, unreadable = [], []
        for run_id in ids:
            try:
                records.append(self.get_run(run_id))
            except UnreadableRun as exc:
                unreadable.append(exc)
        return exchange.export_document(records), unreadable

    def import_runs(self, doc: Any, prepare: exchange.PrepareDocuments | None = None) -> list[int]:
        """Save every run of an exported document (all or none); return the new ids.

        ``prepare(spec, result)`` gives the documents each run is saved with (default: as
        exported); ``core.runs.saved.import_runs`` passes the one every path saves with.
        """
        entries = exchange.parse_document(doc, prepare)
        with self._session(write=True) as session:
            rows = []
            for entry in entries:
                row = Run(
                    kind=entry.kind,
                    title=entry.title,
                    model_name=entry.model_name,
                    model_revision=entry.model_revision,
                    method=entry.method,
                    status=entry.status,
                    error=entry.error,
                    seconds=entry.seconds,
                    created_at=entry.created_at,
                    spec_json=dump_document(entry.spec, "spec"),
                    result_json=None if entry.result is None else dump_document(entry.result, "result"),
                )
                row.tags = [RunTag(tag=tag) for tag in entry.tags]
                row.notes = [
                    Note(author=n.author, verdict=n.verdict, text=n.text, created_at=n.created_at)
                    for n in entry.notes
                ]
                session.add(row)
                rows.append(row)
            session.flush()
            return [row.id for row in rows]


class RunList(list[RunSummary]):
    """Listed runs; ``unreadable``: the ids of the runs left out because they are in a damaged part of the database."""

    unreadable: tuple[int, ...] = ()


class UnreadableRun(StoreError):
    """A saved run whose stored row cannot be read back (damaged bytes); ``run_id`` names it."""

    def __init__(self, run_id: int, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class _UnreadableValue(StoreError):
    """A stored value that cannot be read back, before the run it belongs to is known."""

    def __init__(self, shown: str) -> None:
        super().__init__(f"A saved run in the database {shown} cannot be read; run `{CHECK_COMMAND}`.")


def _unreadable_value(exc: BaseException) -> bool:
    """Whether a database error says a stored value cannot be read (SQLite: text that is not UTF-8)."""
    return "could not decode" in str(getattr(exc, "orig", None) or exc).lower()
