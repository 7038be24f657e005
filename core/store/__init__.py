"""The run store: saved runs in SQLite (default) or any SQLAlchemy database.

Use :class:`RunRepository` (every method returns frozen records, never ORM objects). The
store reads no run kind: the
dashboard, ``run --save`` and imports save a run's documents through
``core.runs.saved``, which gives the store the normalised spec and a current-format
result. Configuration: ``WHYLM_DATA_DIR`` (folder of ``whylm.db``, default ``data``) or
``WHYLM_DATABASE_URL`` (any SQLAlchemy URL).
"""

from __future__ import annotations

from core.store.config import data_dir, database_url
from core.store.errors import StoreError
from core.store.records import ReviewNote, RunRecord, RunSummary
from core.store.repository import RunRepository

__all__ = [
    "ReviewNote",
    "RunRecord",
    "RunRepository",
    "RunSummary",
    "StoreError",
    "data_dir",
    "database_url",
]
