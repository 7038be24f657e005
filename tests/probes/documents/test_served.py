"""A document probe through a served model (``python -m core.serve_model``) gives the local model's numbers.

The ablations a served run sends go in trie order, so the server's prefix key/value cache answers
each from the longest beginning it already computed; every row's log-probabilities must equal the
same row scored whole by the local model to 1e-5 (relative above 1, as the local prefix tree is
checked in test_scoring.py: float32 sums over 30 layers, added in another order, differ by a few
millionths of a log-probability's size). Measured here: at most 8.7e-6 absolute, 5.0e-6 relative.
Nothing is lost on the way: the server sends float32 values as JSON's shortest round-tripping
decimals, which read back exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.attribution.scorer import BatchedScorer
from core.models.loading import LoadedModel
from core.probes.documents.run import run_documents
from tests.models.test_served_model import endpoint  # noqa: F401 - the server fixture, started for this module
from tests.probes.documents.test_scoring import relative_gap
from tests.serving_support import rows_sent

SPEC = {
    "kind": "documents",
    "document": "The bakery opens at six. The baker is Ilsa Varn.\n\nThe school is old. It has a bell.",
    "question": "Who is the baker?",
    "answer": {"text": "Ilsa Varn."},
    "passes": 16,
    "check": [1],
    "random_trials": 1,
}


@pytest.mark.slow
def test_served_ablations_equal_whole_rows_and_the_local_run(
    endpoint: str, lm: LoadedModel, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    with rows_sent(monkeypatch) as rows:
        served = run_documents({**SPEC, "model": {"name": "default", "endpoint": endpoint}})
    assert len(rows) == served.meta["forward_passes"] > 8
    whole = BatchedScorer(lm, share_prefix=False).log_probs([row for row, _ in rows])
    assert relative_gap(whole, [values for _, values in rows]) <= 1e-5

    local = run_documents(SPEC, lm=lm)
    assert served.ranked == local.ranked
    # a value adds and subtracts several rows' sums of the answer's log-probabilities (measured: 7e-6 apart)
    np.testing.assert_allclose(
        [s["value"] for s in served.sources], [s["value"] for s in local.sources], atol=5e-5
    )
    assert served.score_full == pytest.approx(local.score_full, abs=1e-5)
    assert "served at" in served.meta["model_name"]
