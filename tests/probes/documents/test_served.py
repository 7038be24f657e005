"""A document probe through a served model (``python -m core.serve_model``) gives the local model's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.loading import LoadedModel
from core.probes.documents.run import run_documents
from tests.models.test_served_model import endpoint  # noqa: F401 - the server fixture, started for this module

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
def test_served_scores_equal_local_scores(endpoint: str, lm: LoadedModel) -> None:  # noqa: F811
    local = run_documents(SPEC, lm=lm)
    served = run_documents({**SPEC, "model": {"name": "default", "endpoint": endpoint}})
    assert served.ranked == local.ranked
    np.testing.assert_allclose(
        [s["value"] for s in served.sources], [s["value"] for s in local.sources], atol=1e-4
    )
    assert served.score_full == pytest.approx(local.score_full, abs=1e-4)
    assert "served at" in served.meta["model_name"]
