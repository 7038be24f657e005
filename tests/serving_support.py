"""The project's own server over the bundled model, and a record of what a served run sends it.

``python -m core.serve_model`` runs as a real HTTP server in its own process; :func:`rows_sent`
keeps every row a ``RemoteScorer`` sends and the log-probabilities it gets back, so a test can
score the same rows whole with the local model and compare.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.models import remote

ROOT = Path(__file__).resolve().parents[1]


def forget_checks(url: str) -> None:
    """Forget this process's check of any server at ``url``: a closed server's port can be handed to the next
    one, and a check made of the old server (a fake one's fixed log-probabilities) would stand for the new."""
    for key in [k for k in remote._CHECKED if str(k[0]).startswith(url)]:
        remote._CHECKED.pop(key, None)


@contextmanager
def served_bundled_model() -> Iterator[str]:
    """The bundled model served in float32 by ``python -m core.serve_model``, in its own process: its /v1 address."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.serve_model", "--model", "default", "--port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving"), line + proc.stdout.read()
        url = line.split(" on ")[1].strip()
        forget_checks(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def rows_sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, np.ndarray]]]:
    """While inside: every (row, log-probabilities) a served run sends and gets back, in the list it yields."""
    sent: list[tuple[Any, np.ndarray]] = []
    scored = remote.RemoteScorer.log_probs

    def spy(self, rows):  # noqa: ANN001, ANN202 - RemoteScorer.log_probs's signature
        out = scored(self, rows)
        sent.extend(zip(list(rows), out))
        return out

    monkeypatch.setattr(remote.RemoteScorer, "log_probs", spy)
    try:
        yield sent
    finally:
        monkeypatch.setattr(remote.RemoteScorer, "log_probs", scored)
