"""One model-backend interface (``core.models.backend.Backend``): the engine asks, it never probes.

Both backends implement it; a third one, written here in this test file alone, runs through the
engine with its own scorer; and nothing in the engine tests a model's class or probes its attributes.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import core.engine
from core.attribution.scorer import BatchedScorer, scorer_for
from core.models.backend import Backend, Capabilities
from core.models.loading import LoadedModel
from core.models.remote import RemoteModel, RemoteScorer

ROOT = Path(__file__).resolve().parents[2]
SPEC = {
    "kind": "attribution",
    "model": "counted",
    "prompt": {"text": "The capital of France is", "granularity": "word"},
    "target": {"text": " Paris"},
    "method": {"name": "feature_ablation"},
}


def test_both_backends_have_the_interface(lm: LoadedModel) -> None:
    served = RemoteModel(name="m", endpoint="http://127.0.0.1:9/v1", tokenizer=lm.tokenizer, display_name="m")
    for backend in (lm, served):
        assert isinstance(backend, Backend)
    assert lm.capabilities == Capabilities(gradients=True, served=False) and lm.endpoint is None
    assert served.capabilities == Capabilities(gradients=False, served=True)
    assert isinstance(scorer_for(lm), BatchedScorer)
    assert isinstance(scorer_for(served), RemoteScorer)


@dataclass
class CountedBackend:
    """A third backend, one class: the bundled model's weights, scored by its own scorer that counts rows."""

    inner: LoadedModel
    name: str = "counted"
    rows: list[int] = field(default_factory=list)

    def __getattr__(self, item: str) -> Any:  # tokenizer, device, lock, display_name, ...: the inner model's
        return getattr(self.inner, item)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(gradients=False, served=True)

    def own_scorer(self, progress: Any = None, should_stop: Any = None) -> Any:
        backend = self

        class Counting(BatchedScorer):
            def log_probs(self, rows: Any) -> Any:
                backend.rows.append(len(rows))
                return super().log_probs(rows)

        return Counting(self.inner, progress=progress, should_stop=should_stop)


def test_a_third_backend_written_in_one_file_runs_through_the_engine(lm: LoadedModel) -> None:
    backend = CountedBackend(lm)
    result = core.engine.run(copy.deepcopy(SPEC), lm=backend).to_dict()
    assert sum(backend.rows) >= 5, "the engine did not score through the backend's own scorer"
    local = core.engine.run({**copy.deepcopy(SPEC), "model": "default"}, lm=lm).to_dict()
    np.testing.assert_allclose(result["seq_attr"], local["seq_attr"], atol=1e-5)
    with pytest.raises(Exception, match="served elsewhere"):  # it said: no gradients here
        core.engine.run({**copy.deepcopy(SPEC), "method": {"name": "saliency"}}, lm=backend)


def test_the_engine_never_probes_a_model_object() -> None:
    """Outside core/models, nothing tests a model's class or reads its attributes by name."""
    probes = []
    for package in ("attribution", "probes", "runs", "present"):
        for path in sorted((ROOT / "core" / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                    "isinstance", "getattr", "hasattr"
                ) and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "lm":
                    probes.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if isinstance(node, ast.Name) and node.id == "RemoteModel":
                    probes.append(f"{path.relative_to(ROOT)}:{node.lineno} names RemoteModel")
    assert probes == [], probes
