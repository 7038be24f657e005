"""Finished batches of a study, kept so that a stopped run continues where it stopped.

Every scored item's log-likelihoods are written to a small SQLite file of this folder's own
(``studies.sqlite`` in the data folder, ``WHYLM_DATA_DIR``), keyed by the model (name, revision,
precision, endpoint) and the item's exact scored texts, one transaction per finished batch. A run looks
its items up first and scores only the others: a run stopped by Stop, a closed browser or a restarted
server, started again with the same spec, scores no item twice.

The file does not grow without end: a study's batches are removed once its finished run is saved
(:meth:`Checkpoint.forget`, ``core.probes.studies.run.forget_study_batches``), and batches stored more
than :data:`KEPT_DAYS` days ago (a study stopped and never resumed) are removed whenever the file is opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

FILE_NAME = "studies.sqlite"
SCORING_VERSION = 1
"""Bumped when the way an option is tokenized or scored changes (older stored scores are then not reused)."""
KEPT_DAYS = 30.0
"""Batches stored longer ago than this are removed when the file is opened (a stopped study never resumed)."""
CHUNK = 500
"""Item keys per SQL statement (SQLite's limit on bound parameters is far above it)."""

_LOCK = threading.Lock()


def checkpoint_path() -> Path:
    """The file the finished batches go to: ``$WHYLM_DATA_DIR/studies.sqlite`` (``data/`` by default)."""
    return Path(os.environ.get("WHYLM_DATA_DIR") or "data").expanduser() / FILE_NAME


def model_key(name: str, revision: str, endpoint: str | None, dtype: Any = None) -> str:
    """The key of a model's scores: its name, the revision of its weights, its precision and its server.

    The precision is part of it: the bundled model in bfloat16 and in float32 score differently, and a
    study may compare the two.
    """
    if dtype is None:
        return json.dumps([name, revision, endpoint, SCORING_VERSION])
    return json.dumps([name, revision, endpoint, str(dtype), SCORING_VERSION])


def item_key(texts: list[list[str]]) -> str:
    """The key of an item's scores: a digest of its (context, continuation) texts."""
    return hashlib.sha256(json.dumps(texts).encode("utf-8")).hexdigest()


class Checkpoint:
    """The stored scores of one model: ``get`` what is there, ``put`` a finished batch, ``forget`` a study's.

    Opening it removes the batches of every model stored more than ``kept_days`` days ago.

    Args:
        model: the model's key (:func:`model_key`).
        path: the SQLite file (None: :func:`checkpoint_path`).
        kept_days: how long a stored batch is kept when its study is not finished (None: :data:`KEPT_DAYS`).
    """

    def __init__(self, model: str, path: Path | None = None, kept_days: float | None = None) -> None:
        self.model = model
        self.path = path or checkpoint_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = KEPT_DAYS if kept_days is None else kept_days
        with _LOCK, self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS scores (model TEXT NOT NULL, item TEXT NOT NULL, "
                "value TEXT NOT NULL, stored REAL NOT NULL DEFAULT 0, PRIMARY KEY (model, item))"
            )
            columns = {row[1] for row in db.execute("PRAGMA table_info(scores)")}
            if "stored" not in columns:  # a file written before batches had a time: they count from now
                db.execute("ALTER TABLE scores ADD COLUMN stored REAL NOT NULL DEFAULT 0")
            db.execute("UPDATE scores SET stored = ? WHERE stored = 0", (time.time(),))
            db.execute("CREATE INDEX IF NOT EXISTS scores_stored ON scores (stored)")
            db.execute("DELETE FROM scores WHERE stored < ?", (time.time() - kept * 86400,))

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def get(self, keys: list[str]) -> dict[str, list[list[float]]]:
        """The stored scores of those items that have them (item key -> per option [sum, tokens])."""
        out: dict[str, list[list[float]]] = {}
        with _LOCK, self._connect() as db:
            for start in range(0, len(keys), CHUNK):
                part = keys[start : start + CHUNK]
                marks = ",".join("?" * len(part))
                for item, value in db.execute(
                    f"SELECT item, value FROM scores WHERE model = ? AND item IN ({marks})",
                    [self.model, *part],
                ):
                    out[item] = json.loads(value)
        return out

    def put(self, scores: dict[str, list[list[float]]]) -> None:
        """Store one finished batch (one transaction)."""
        now = time.time()
        rows = [(self.model, key, json.dumps(value), now) for key, value in scores.items()]
        with _LOCK, self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scores (model, item, value, stored) VALUES (?, ?, ?, ?)", rows
            )

    def forget(self, keys: list[str]) -> int:
        """Remove these items' stored scores of this model (a finished, saved study's); how many were removed."""
        removed = 0
        with _LOCK, self._connect() as db:
            for start in range(0, len(keys), CHUNK):
                part = keys[start : start + CHUNK]
                marks = ",".join("?" * len(part))
                removed += db.execute(
                    f"DELETE FROM scores WHERE model = ? AND item IN ({marks})", [self.model, *part]
                ).rowcount
        return removed

    def count(self) -> int:
        """How many items of this model are stored."""
        with _LOCK, self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM scores WHERE model = ?", (self.model,)).fetchone()[0])
