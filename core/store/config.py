"""Where the run database lives: a SQLite file in the data folder, or any SQLAlchemy URL.

``WHYLM_DATABASE_URL`` (any SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/db``)
wins over ``WHYLM_DATA_DIR`` (a folder; the database is ``whylm.db`` inside it).
Without either, the database is ``data/whylm.db`` under the current directory.
``WHYLM_IMPORT_MAX_MB`` caps the size of an export file that may be imported (default 50).
"""

from __future__ import annotations

import os
from pathlib import Path

from core.store.errors import StoreError

DATA_DIR_ENV = "WHYLM_DATA_DIR"
DATABASE_URL_ENV = "WHYLM_DATABASE_URL"
DEFAULT_DATA_DIR = "data"
DATABASE_FILENAME = "whylm.db"
IMPORT_MAX_MB_ENV = "WHYLM_IMPORT_MAX_MB"
DEFAULT_IMPORT_MAX_MB = 50


def data_dir() -> Path:
    """Return the data folder: ``$WHYLM_DATA_DIR`` or ``data`` under the current directory."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """Return the SQLAlchemy URL of the SQLite file at ``path`` (made absolute)."""
    return f"sqlite:///{Path(path).expanduser().absolute()}"


def normalise_url(url: str) -> str:
    """Return ``url`` with a PostgreSQL URL pointed at the psycopg 3 driver that WhyLM ships."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def database_url() -> str:
    """Return the configured database URL (``$WHYLM_DATABASE_URL`` or the SQLite file)."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url and url.strip():
        return normalise_url(url)
    return sqlite_url(data_dir() / DATABASE_FILENAME)


def import_max_bytes() -> int:
    """Return the largest export file an import reads, in bytes: ``$WHYLM_IMPORT_MAX_MB`` (default 50) MB.

    Raises:
        StoreError: the setting is not a positive number.
    """
    raw = (os.environ.get(IMPORT_MAX_MB_ENV) or "").strip()
    if not raw:
        return DEFAULT_IMPORT_MAX_MB * 1024 * 1024
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = float("nan")
    if not 0 < megabytes <= 1024 * 1024:  # also refuses nan and inf
        raise StoreError(
            f"{IMPORT_MAX_MB_ENV} is {raw!r}; set it to a size in megabytes such as {DEFAULT_IMPORT_MAX_MB}."
        )
    return int(megabytes * 1024 * 1024)
