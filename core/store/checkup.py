"""``python -m core db check``: SQLite's full integrity check and a read of every saved run, in words.

The quick check that runs whenever a store opens (``core.store.health``) walks the pages;
this one also checks every index against its table (SQLite's ``PRAGMA integrity_check``)
and reads every run back whole, naming the runs that cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.store.config import normalise_url
from core.store.database import describe_url, sqlite_path
from core.store.errors import StoreError
from core.store.health import MAX_PROBLEMS, integrity_problems
from core.store.repository import RunRepository

SHOWN_IDS = 20


@dataclass(frozen=True)
class DatabaseCheck:
    """What ``db check`` found.

    Attributes:
        database: the database as it is safe to show.
        exists: False when there is no database file yet (nothing to check).
        pages_checked: whether SQLite's integrity check ran (a SQLite file; a server checks its own).
        problems: what the integrity check found, one line each (empty: none).
        runs: how many saved runs there are (None when they could not be listed).
        unreadable: the ids of the runs that cannot be read back.
        open_error: why the store could not be opened or listed, if it could not.
        path: the SQLite file (None for a database server).
    """

    database: str
    exists: bool = True
    pages_checked: bool = False
    problems: tuple[str, ...] = ()
    runs: int | None = None
    unreadable: tuple[int, ...] = ()
    open_error: str | None = None
    path: str | None = None

    @property
    def sound(self) -> bool:
        """Whether nothing was found wrong."""
        return not (self.problems or self.unreadable or self.open_error)

    def sentences(self) -> list[str]:
        """The findings in words, one sentence a line, ending with what to do when something is wrong."""
        if not self.exists:
            return [f"There is no database at {self.database} yet; there is nothing to check."]
        if self.sound:
            how = (
                "SQLite's full integrity check found no problems"
                if self.pages_checked
                else "it is a database server, which checks its own pages"
            )
            return [f"The database {self.database} is sound: {how}, and all {self.runs} saved runs read back."]
        lines = [f"The database {self.database} is damaged."]
        if self.problems:
            count = f"at least {MAX_PROBLEMS}" if len(self.problems) >= MAX_PROBLEMS else str(len(self.problems))
            lines.append(
                f"SQLite's full integrity check found {count} problem(s); the first: {self.problems[0]}"
                + ("" if self.problems[0].endswith(".") else ".")
            )
        elif self.pages_checked:
            lines.append("SQLite's full integrity check found no problems in its pages.")
        if self.unreadable:
            shown = ", ".join(map(str, self.unreadable[:SHOWN_IDS]))
            more = f" and {len(self.unreadable) - SHOWN_IDS} more" if len(self.unreadable) > SHOWN_IDS else ""
            where = (
                "they are in a damaged part of the database"
                if self.problems
                else "delete each with `python -m core runs delete ID --yes`"
            )
            lines.append(
                f"{len(self.unreadable)} of the {self.runs} saved runs cannot be read back: run {shown}{more}; "
                f"{where}."
            )
        elif self.runs is not None:
            lines.append(f"All {self.runs} saved runs still read back, so they can be exported.")
        if self.open_error:
            lines.append(f"Reading the saved runs failed: {self.open_error}")
        lines.append(
            "Keep a copy of the file, export the runs that still read (`python -m core runs export IDS "
            "-o runs.json`) and import them into a new database (`WHYLM_DATA_DIR=/new/folder python -m "
            "core runs import runs.json`)."
        )
        if self.problems and self.path:
            lines.append(
                "To recover what SQLite can of the damaged part as well, let SQLite rebuild the file "
                f"(`sqlite3 {self.path} .recover | sqlite3 recovered.db`, then point WHYLM_DATA_DIR at a "
                "folder holding recovered.db as whylm.db and run `python -m core db check` on it), or restore "
                "the file from a backup."
            )
        return lines


def check_database(url: str) -> DatabaseCheck:
    """Check the database at ``url``: SQLite's full integrity check, then every run read back whole."""
    url = normalise_url(url)
    shown = describe_url(url)
    path = sqlite_path(url)
    if path is not None and (not path.exists() or path.is_file() and path.stat().st_size == 0):
        return DatabaseCheck(shown, exists=False)
    problems = tuple(integrity_problems(path)) if path is not None else ()
    where = str(path) if path is not None else None
    try:
        repo = RunRepository(url)
        unreadable = tuple(repo.unreadable_runs())
        try:
            runs = repo.count()
        except StoreError:  # counting walks the damaged pages too: count what reads and what does not
            listed = repo.list_runs()
            runs = len(listed) + len(set(unreadable) - {r.id for r in listed})
    except StoreError as exc:
        return DatabaseCheck(
            shown, pages_checked=path is not None, problems=problems, open_error=str(exc), path=where
        )
    return DatabaseCheck(
        shown, pages_checked=path is not None, problems=problems, runs=runs, unreadable=unreadable, path=where
    )
