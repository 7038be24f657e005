"""The run store: saved runs in SQLite (default) or any SQLAlchemy database.

Use :class:`RunRepository` (every method returns frozen records, never ORM objects) or
:func:`save_result` to save documents as they are. The store reads no run kind: the
dashboard, ``run --save`` and imports save a run's documents through
``core.saved_runs``, which gives the store the normalised spec and a current-format
result. Configuration: ``WHYLM_DATA_DIR`` (folder of ``whylm.db``, default ``data``) or
``WHYLM_DATABASE_URL`` (any SQLAlchemy URL).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.store.config import data_dir, database_url
from core.store.errors import StoreError
from core.store.fields import default_title
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
    "save_result",
]


def save_result(
    result: dict[str, Any],
    spec: dict[str, Any],
    title: str | None = None,
    tags: Iterable[str] = (),
    status: str = "done",
    error: str | None = None,
    url: str | None = None,
) -> int:
    """Save a run's result and spec, as given, in the configured database and return the new run id.

    The kind is ``spec["kind"]`` (default "attribution"); without a title, one is made from
    the start of the prompt.
    """
    kind = spec.get("kind", "attribution") if isinstance(spec, dict) else "attribution"
    return RunRepository(url).save_run(
        kind=kind,
        title=title if title and title.strip() else default_title(spec, kind),
        spec=spec,
        result=result,
        status=status,
        error=error,
        tags=tags,
    )
