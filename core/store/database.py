"""Opening the run database: engines, SQLite pragmas, and the schema version check.

A database is opened by :func:`open_engine`. A missing or empty database is created at
the newest migration; a WhyLM database at the newest migration is used as it is; anything
else (an older WhyLM's database, a corrupt file, somebody else's database) is refused with
a :class:`StoreError` sentence and left untouched. :func:`upgrade_database` is the one
path that changes an existing schema, and it backs a SQLite file up first. An existing
SQLite file gets SQLite's quick page check when it is opened; a damaged one still opens
for reading (so its runs can be exported) but is remembered as damaged (``core.store.health``)
and nothing is written into it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from core.store.config import normalise_url
from core.store.errors import StoreBusyError, StoreError
from core.store.health import (
    SQLITE_BUSY_TIMEOUT_MS,
    damaged_sentence,
    failure,
    failure_kind,
    forget_damage,
    mark_damaged,
    quick_check,
)
from core.text import first_line

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
OUR_TABLES = frozenset({"runs", "review_notes", "run_tags", VERSION_TABLE})
SQLITE_HEADER = b"SQLite format 3\x00"
UPGRADE_COMMAND = "python -m core db upgrade"
# Any constant: serialises schema creation between processes on PostgreSQL.
_PG_LOCK_KEY = 0x5768794C4D

# How long opening a database keeps trying while SQLite reports it busy at once (see _open_retrying).
OPEN_PATIENCE_S = SQLITE_BUSY_TIMEOUT_MS / 1000

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic configuration for the bundled migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """Return the newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    """Return every migration's revision id, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def describe_url(url: str) -> str:
    """Return the URL as it is safe to show (password hidden; a SQLite file as its path)."""
    path = sqlite_path(url)
    if path is not None:
        return display_path(path)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def display_path(path: Path) -> str:
    """Return ``path`` relative to the current directory when it lies under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def sqlite_path(url: str) -> Path | None:
    """Return the file of a SQLite URL, or None for an in-memory or non-SQLite database."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Set WAL, the busy timeout and foreign keys on every new SQLite connection."""
    # SQLAlchemy emits BEGIN itself (see _on_sqlite_begin), so the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    """Begin a real transaction; writers take the write lock up front (BEGIN IMMEDIATE).

    Taking the lock at BEGIN means a writer waits on the busy timeout instead of failing
    when another process committed between its first read and its first write.
    """
    immediate = conn.get_execution_options().get("whylm_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(url: str) -> Engine:
    """Create an engine for ``url`` with WhyLM's connection settings (no schema check)."""
    url = normalise_url(url)
    try:
        engine = create_engine(url, pool_pre_ping=make_url(url).get_backend_name() != "sqlite")
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise StoreError(
            f"The database URL {describe_url(url)!r} is not one WhyLM can use ({exc}); "
            "set WHYLM_DATABASE_URL to e.g. postgresql+psycopg://user@host/dbname."
        ) from None
    except ImportError as exc:
        raise StoreError(
            f"The driver for {describe_url(url)} is not installed ({exc}); "
            "install it or use a postgresql+psycopg:// or sqlite:/// URL."
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _after_fork() -> None:
    """Forget pooled connections inherited from the parent process (never share them)."""
    for engine in _engines.values():
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def dispose_engines() -> None:
    """Close and forget every cached engine and what was found damaged (tests, a replaced database)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        forget_damage()


def open_engine(url: str) -> Engine:
    """Return a checked engine for ``url``, creating a new database at the newest revision.

    Raises StoreError (and changes nothing) for an out-of-date, corrupt or foreign database.
    """
    url = normalise_url(url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _open_retrying(url)
            _engines[url] = engine
        return engine


def _open_retrying(url: str) -> Engine:
    """Open and check ``url``, trying again while SQLite reports the file busy (up to its busy timeout).

    SQLite answers "database is locked" at once, without waiting on the busy timeout, while
    another process's last connection cleans up the write-ahead log, or while two processes
    create the same new file; both last milliseconds.
    """
    deadline = time.monotonic() + OPEN_PATIENCE_S
    pause = 0.01
    while True:
        try:
            return _open_checked(url)
        except StoreBusyError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _open_checked(url: str) -> Engine:
    """Check the database at ``url`` and return a new engine on it (created at the newest revision)."""
    path = sqlite_path(url)
    if path is not None:
        _prepare_sqlite_file(path)
        problem = quick_check(path) if path.exists() and path.stat().st_size else None
        if problem:
            mark_damaged(url, problem)
    engine = create_store_engine(url)
    try:
        _ensure_schema(engine, url)
    except BaseException:
        engine.dispose()
        raise
    return engine


# --- SQLite files are inspected read-only before any pragma can touch them -------------


def _prepare_sqlite_file(path: Path) -> None:
    """Check the file at ``path`` read-only; create its folder when the file is new."""
    shown = display_path(path)
    if path.is_dir():
        raise StoreError(
            f"{shown} is a folder, not a WhyLM database; set WHYLM_DATA_DIR to another folder."
        )
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the data folder {display_path(path.parent)} ({exc.strerror}); "
                "set WHYLM_DATA_DIR to a folder you can write to."
            ) from None
        return
    revision = inspect_sqlite_file(path)
    _check_revision(revision, describe=shown, sqlite=True)


def _not_ours(shown: str, why: str) -> StoreError:
    """Return the error for a file that is not a WhyLM database."""
    return StoreError(
        f"The file {shown} is not a WhyLM database ({why}). "
        "Move it away or set WHYLM_DATA_DIR to another folder."
    )


def _sqlite_error(shown: str, exc: sqlite3.Error) -> StoreError:
    """Return the sentence for an SQLite error met while inspecting a file read-only."""
    kind = failure_kind(exc)
    if kind == "busy":
        return StoreBusyError(
            f"The database file {shown} is locked by another program; close it and try again."
        )
    if kind == "read_only":
        return StoreError(f"Cannot read the database file {shown} ({exc}); check its permissions.")
    if kind == "damaged" and str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_CORRUPT"):
        return StoreError(damaged_sentence(shown, f"SQLite cannot read its tables: {exc}"))
    if kind in ("disk", "full"):
        return StoreError(
            f"The disk that holds the database file {shown} failed while reading it ({exc}); check "
            "that the disk is attached, working and not full."
        )
    return _not_ours(shown, f"SQLite cannot read it: {exc}")


def inspect_sqlite_file(path: Path) -> str | None:
    """Return the schema revision of the SQLite file at ``path`` without changing it.

    Returns None for an empty database (no tables). Raises StoreError for a file that is
    not SQLite, is corrupt, or holds tables without WhyLM's version table.
    """
    shown = display_path(path)
    try:
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(
            f"Cannot read the database file {shown} ({exc.strerror}); check its permissions."
        ) from None
    if not header:
        return None  # an empty file is an empty database
    if header != SQLITE_HEADER:
        raise _not_ours(shown, "it is not an SQLite file")
    uri = "file:" + urllib.parse.quote(str(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise _sqlite_error(shown, exc) from None
    try:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if not tables:
            return None
        if VERSION_TABLE not in tables:
            listed = ", ".join(sorted(tables)[:5])
            raise _not_ours(shown, f"it holds other tables: {listed}")
        rows = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
    except sqlite3.Error as exc:
        raise _sqlite_error(shown, exc) from None
    finally:
        conn.close()
    if len(rows) != 1:
        raise _not_ours(shown, "its version table does not hold exactly one revision")
    return str(rows[0][0])


# --- the revision check, shared by SQLite and server databases ---------------------------


def _check_revision(revision: str | None, describe: str, sqlite: bool) -> None:
    """Raise StoreError unless ``revision`` is the newest one (None means an empty database)."""
    if revision is None:
        return
    head = head_revision()
    if revision == head:
        return
    if revision in known_revisions():
        backup = "a backup is taken first" if sqlite else "back the database up first"
        raise StoreError(
            f"This database was made by an older WhyLM (revision {revision}); run "
            f"`{UPGRADE_COMMAND}` to bring it up to date ({backup})."
        )
    raise StoreError(
        f"The database {describe} is at revision {revision}, which this WhyLM does not know "
        f"(it knows up to {head}); it was made by a newer WhyLM or by another program, so "
        "upgrade WhyLM or point WHYLM_DATA_DIR / WHYLM_DATABASE_URL elsewhere."
    )


def _schema_state(conn: Connection, describe: str) -> str | None:
    """Return the revision of the open database (None if it has none of our tables)."""
    tables = set(inspect(conn).get_table_names())
    if VERSION_TABLE in tables:
        return MigrationContext.configure(conn).get_current_revision()
    ours = tables & OUR_TABLES
    if ours or (conn.dialect.name == "sqlite" and tables):
        raise StoreError(
            f"The database {describe} is not a WhyLM database (it has tables but no "
            f"{VERSION_TABLE} table). Move it away or set WHYLM_DATA_DIR / "
            "WHYLM_DATABASE_URL to another database."
        )
    return None


def _connect_error(url: str, exc: Exception) -> StoreError:
    """Return a sentence for a database that cannot be reached or read."""
    if failure_kind(exc) is not None:  # a full disk, a read-only or damaged file: say which
        return failure(describe_url(url), exc, url)
    detail = first_line(exc)
    return StoreError(
        f"Cannot use the database {describe_url(url)} ({detail}); check WHYLM_DATABASE_URL "
        "or WHYLM_DATA_DIR and that the database server is running."
    )


@contextmanager
def _locked_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a transaction that no other process can change the schema in.

    SQLite: BEGIN IMMEDIATE holds the write lock; PostgreSQL: a transaction advisory lock.
    """
    with engine.connect().execution_options(whylm_write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        yield conn


def _ensure_schema(engine: Engine, url: str) -> None:
    """Create the schema on an empty database, or check that it is at the newest revision."""
    describe = describe_url(url)
    try:
        with _locked_connection(engine) as conn:
            revision = _schema_state(conn, describe)
            if revision is None:
                command.upgrade(alembic_config(conn), "head")
            else:
                _check_revision(revision, describe, sqlite=conn.dialect.name == "sqlite")
    except StoreError:
        raise
    except (DBAPIError, SQLAlchemyError, OSError) as exc:
        raise _connect_error(url, exc) from None


# --- the explicit upgrade path -----------------------------------------------------------


@dataclass(frozen=True)
class UpgradeReport:
    """What :func:`upgrade_database` did: revisions before and after, and the backup file."""

    database: str
    from_revision: str | None
    to_revision: str
    backup: Path | None

    def sentence(self) -> str:
        """Return a one-sentence account of the upgrade for the command line."""
        if self.from_revision == self.to_revision:
            return f"The database {self.database} is already up to date (revision {self.to_revision})."
        if self.from_revision is None:
            return f"Created the database {self.database} at revision {self.to_revision}."
        saved = f" after saving a backup to {display_path(self.backup)}" if self.backup else ""
        return (
            f"Upgraded the database {self.database} from revision {self.from_revision} "
            f"to {self.to_revision}{saved}."
        )


def backup_sqlite_file(path: Path) -> Path:
    """Copy the SQLite file (including its WAL contents) to a timestamped file beside it."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.backup-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.backup-{stamp}-{n}")
    uri = "file:" + urllib.parse.quote(str(path)) + "?mode=ro"
    try:
        src = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            dst = sqlite3.connect(str(target))
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except (sqlite3.Error, OSError) as exc:
        target.unlink(missing_ok=True)
        try:  # fall back to a plain copy of the file
            shutil.copy2(path, target)
        except OSError:
            raise StoreError(
                f"Cannot back up {display_path(path)} before upgrading ({exc}); "
                "free some disk space or copy the file yourself and try again."
            ) from None
    return target


def current_revision(url: str) -> tuple[str | None, str]:
    """Return (the database's revision or None if it is empty, the newest revision)."""
    url = normalise_url(url)
    path = sqlite_path(url)
    if path is not None:
        if path.is_dir():
            raise StoreError(f"{display_path(path)} is a folder, not a WhyLM database.")
        return (inspect_sqlite_file(path) if path.exists() else None), head_revision()
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            return _schema_state(conn, describe_url(url)), head_revision()
    except StoreError:
        raise
    except (DBAPIError, SQLAlchemyError) as exc:
        raise _connect_error(url, exc) from None
    finally:
        engine.dispose()


def upgrade_database(url: str) -> UpgradeReport:
    """Bring the database at ``url`` to the newest revision; back a SQLite file up first."""
    url = normalise_url(url)
    describe = describe_url(url)
    before, head = current_revision(url)
    if before is not None and before not in known_revisions():
        _check_revision(before, describe, sqlite=False)  # raises: unknown (newer) revision
    backup = None
    path = sqlite_path(url)
    if before not in (None, head) and path is not None:
        backup = backup_sqlite_file(path)
    with _engines_lock:
        cached = _engines.pop(url, None)
        if cached is not None:
            cached.dispose()
    if path is not None:
        _prepare_sqlite_file_for_upgrade(path)
    engine = create_store_engine(url)
    try:
        with _locked_connection(engine) as conn:
            if _schema_state(conn, describe) != head:
                command.upgrade(alembic_config(conn), "head")
    except StoreError:
        raise
    except (DBAPIError, SQLAlchemyError, OSError) as exc:
        raise _connect_error(url, exc) from None
    finally:
        engine.dispose()
    return UpgradeReport(database=describe, from_revision=before, to_revision=head, backup=backup)


def _prepare_sqlite_file_for_upgrade(path: Path) -> None:
    """Create the folder of a new SQLite file (an existing one was checked already)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
