"""The database's health: one sentence for each way a database fails, and SQLite's page checks.

- :func:`failure` turns a database error (a full disk, a read-only file, damaged pages, ...) into
  a sentence that says what is actually wrong and what to do.
- :func:`quick_check` runs SQLite's ``PRAGMA quick_check`` (every page of every b-tree is
  walked; milliseconds for a thousand runs) when a store opens, and :func:`integrity_problems`
  the full ``PRAGMA integrity_check`` for ``python -m core db check``.
- A database found damaged is remembered (:func:`mark_damaged`, :func:`damage`), and the
  repository refuses to write into it: writing into a damaged file can spread the damage.
"""

from __future__ import annotations

import sqlite3
import threading
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.store.errors import StoreBusyError, StoreError
from core.text import first_line

SQLITE_BUSY_TIMEOUT_MS = 30_000
CHECK_COMMAND = "python -m core db check"
MAX_PROBLEMS = 100
"""The most problems an integrity check lists (SQLite stops counting there)."""

_BUSY = {"SQLITE_BUSY", "SQLITE_LOCKED"}
_FULL = {"SQLITE_FULL"}
_READ_ONLY = {"SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_CANTOPEN"}
_DAMAGED = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_DISK = {"SQLITE_IOERR"}
# PostgreSQL's SQLSTATE codes for the same failures.
_PG = {
    "53100": "full",  # disk_full
    "25006": "read_only",  # read_only_sql_transaction
    "42501": "read_only",  # insufficient_privilege
    "XX001": "damaged",  # data_corrupted
    "XX002": "damaged",  # index_corrupted
    "55P03": "busy",  # lock_not_available
}

_damaged: dict[str, str] = {}
_damaged_lock = threading.Lock()


def failure_kind(exc: BaseException) -> str | None:
    """What kind of failure a database error is: "full", "read_only", "damaged", "disk", "busy", or None."""
    orig = getattr(exc, "orig", None) or exc
    name = getattr(orig, "sqlite_errorname", "") or ""
    primary = "_".join(name.split("_")[:2])  # SQLITE_IOERR_READ -> SQLITE_IOERR
    for names, kind in ((_FULL, "full"), (_READ_ONLY, "read_only"), (_DAMAGED, "damaged"), (_DISK, "disk"),
                        (_BUSY, "busy")):
        if primary in names:
            return kind
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(code, str) and code in _PG:
        return _PG[code]
    text = str(orig).lower()
    if "database or disk is full" in text or "no space left on device" in text:
        return "full"
    if "malformed" in text:
        return "damaged"
    return None


def damaged_sentence(shown: str, problem: str) -> str:
    """The sentence for a damaged database: what SQLite found, and how to rescue the runs."""
    return (
        f"The database {shown} is damaged ({problem}), so WhyLM writes nothing into it; keep a copy "
        f"of the file, run `{CHECK_COMMAND}` to see what is wrong, and export the runs that still "
        "read (`python -m core runs export IDS -o runs.json`) into a new database."
    )


def unlisted_sentence(ids: Sequence[int], shown: int = 20) -> str:
    """The sentence beside a list of a damaged database's runs: which runs are in its damaged part."""
    named = ", ".join(map(str, ids[:shown])) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
    one = len(ids) == 1
    return (
        f"{'Run' if one else f'{len(ids)} runs:'} {named} {'is' if one else 'are'} in a damaged part of the "
        "database and could not be listed; the runs listed still read and can be exported. Run "
        f"`{CHECK_COMMAND}` to see how to recover the database."
    )


def failure(shown: str, exc: BaseException, url: str | None = None) -> StoreError:
    """One sentence for a database error, saying what is actually wrong (never a traceback).

    Args:
        shown: the database as it is safe to show (a path, or a URL without its password).
        exc: the error (an SQLAlchemy, sqlite3 or driver error).
        url: the database's URL; a damaged database is remembered under it, so writes are refused.
    """
    detail = first_line(exc)
    kind = failure_kind(exc)
    if kind == "full":
        return StoreError(
            f"The disk that holds the database {shown} is full ({detail}), so nothing was saved; free "
            "some space on it, or set WHYLM_DATA_DIR to a folder on another disk, and try again."
        )
    if kind == "read_only":
        return StoreError(
            f"WhyLM may not write to the database {shown} ({detail}); make the file and its folder "
            "writable, or set WHYLM_DATA_DIR to a folder you can write to."
        )
    if kind == "damaged":
        if url is not None:
            mark_damaged(url, detail)
        return StoreError(damaged_sentence(shown, detail))
    if kind == "disk":
        return StoreError(
            f"The disk that holds the database {shown} reported an error ({detail}); check that it is "
            "attached and working (and not full), then try again."
        )
    if kind == "busy":
        return StoreBusyError(
            f"The database {shown} is locked by another program and stayed locked for "
            f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s; try again when it has finished."
        )
    return StoreError(
        f"The database {shown} failed ({detail}); try again, and check the disk or the database "
        "server if it keeps happening."
    )


# --- damaged databases are remembered, so nothing writes into them ---------------------


def mark_damaged(url: str, problem: str) -> None:
    """Remember that the database at ``url`` is damaged (``problem`` says how)."""
    with _damaged_lock:
        _damaged.setdefault(url, problem)


def damage(url: str) -> str | None:
    """What was found wrong with the database at ``url`` since it was opened, or None."""
    with _damaged_lock:
        return _damaged.get(url)


def forget_damage(url: str | None = None) -> None:
    """Forget what was found (for ``url``, or for every database): it is checked again when next opened."""
    with _damaged_lock:
        if url is None:
            _damaged.clear()
        else:
            _damaged.pop(url, None)


# --- SQLite's own checks, on a read-only connection -------------------------------------


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite file at ``path`` (it changes nothing in the file)."""
    uri = "file:" + urllib.parse.quote(str(path)) + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)


def _problems(rows: list[Any]) -> list[str]:
    """The problems in the rows of a check pragma ("ok" means none), one line each."""
    lines = [line.strip() for row in rows for line in str(row[0]).splitlines()]
    return [line for line in lines if line and line != "ok" and not line.startswith("*** in database")]


def run_check(path: Path, pragma: str) -> list[str]:
    """The problems ``PRAGMA quick_check`` or ``integrity_check`` finds in a SQLite file (empty: none).

    A check that SQLite cannot finish (the damage stops it) is itself a problem, in its words;
    a file that another connection holds locked is not damage: that raises StoreBusyError.
    """
    try:
        conn = _read_only(path)
    except sqlite3.Error as exc:
        _raise_if_busy(path, exc)
        return [f"SQLite cannot open it: {exc}"]
    try:
        return _problems(conn.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})").fetchall())
    except sqlite3.Error as exc:
        _raise_if_busy(path, exc)
        return [f"SQLite could not finish its check: {exc}"]
    finally:
        conn.close()


def _raise_if_busy(path: Path, exc: sqlite3.Error) -> None:
    """Raise StoreBusyError when ``exc`` is SQLite's "database is locked" (not a sign of damage)."""
    if failure_kind(exc) == "busy":
        raise failure(str(path), exc) from None


def quick_check(path: Path) -> str | None:
    """A short account of the damage ``PRAGMA quick_check`` finds in a SQLite file, or None when sound."""
    found = run_check(path, "quick_check")
    if not found:
        return None
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    return f"SQLite's quick check found: {found[0]}{more}"


def integrity_problems(path: Path) -> list[str]:
    """Every problem SQLite's full ``PRAGMA integrity_check`` finds in a SQLite file (up to 100).

    When the damage stops the full check, the quick check's findings follow its sentence.
    """
    found = run_check(path, "integrity_check")
    if found and found[0].startswith("SQLite could not finish"):
        quick = [line for line in run_check(path, "quick_check") if not line.startswith("SQLite could not")]
        found = quick + found
    return found
