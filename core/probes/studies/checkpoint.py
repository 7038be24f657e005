"""Finished batches of a study, kept so that a stopped run continues where it stopped.

Every scored item's log-likelihoods are written to a small SQLite file of this folder's own
(``studies.sqlite`` in the data folder, ``WHYLM_DATA_DIR``), keyed by the model (name, revision,
endpoint) and the item's exact scored texts, one transaction per finished batch. A run looks its items
up first and scores only the others: a run stopped by Stop, a closed browser or a restarted server,
started again with the same spec, scores no item twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path

FILE_NAME = "studies.sqlite"
SCORING_VERSION = 1
"""Bumped when the way an option is tokenized or scored changes (older stored scores are then not reused)."""

_LOCK = threading.Lock()


def checkpoint_path() -> Path:
    """The file the finished batches go to: ``$WHYLM_DATA_DIR/studies.sqlite`` (``data/`` by default)."""
    return Path(os.environ.get("WHYLM_DATA_DIR") or "data").expanduser() / FILE_NAME


def model_key(name: str, revision: str, endpoint: str | None) -> str:
    """The key of a model's scores: its name, the revision of its weights and its server."""
    return json.dumps([name, revision, endpoint, SCORING_VERSION])


def item_key(texts: list[list[str]]) -> str:
    """The key of an item's scores: a digest of its (context, continuation) texts."""
    return hashlib.sha256(json.dumps(texts).encode("utf-8")).hexdigest()


class Checkpoint:
    """The stored scores of one model: ``get`` what is there, ``put`` a finished batch.

    Args:
        model: the model's key (:func:`model_key`).
        path: the SQLite file (None: :func:`checkpoint_path`).
    """

    def __init__(self, model: str, path: Path | None = None) -> None:
        self.model = model
        self.path = path or checkpoint_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK, self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS scores (model TEXT NOT NULL, item TEXT NOT NULL, "
                "value TEXT NOT NULL, PRIMARY KEY (model, item))"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def get(self, keys: list[str]) -> dict[str, list[list[float]]]:
        """The stored scores of those items that have them (item key -> per option [sum, tokens])."""
        out: dict[str, list[list[float]]] = {}
        with _LOCK, self._connect() as db:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                for item, value in db.execute(
                    f"SELECT item, value FROM scores WHERE model = ? AND item IN ({marks})",
                    [self.model, *part],
                ):
                    out[item] = json.loads(value)
        return out

    def put(self, scores: dict[str, list[list[float]]]) -> None:
        """Store one finished batch (one transaction)."""
        rows = [(self.model, key, json.dumps(value)) for key, value in scores.items()]
        with _LOCK, self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO scores (model, item, value) VALUES (?, ?, ?)", rows)
