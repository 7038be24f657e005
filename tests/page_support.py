"""Shared by the AppTest page tests (bias, few-shot, saved runs, the app itself). No tests live here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


def no_exception(at: AppTest) -> None:
    """Fail with the exceptions' texts if the last run of ``at`` raised."""
    assert not at.exception, [e.value for e in at.exception]


def main_errors(at: AppTest) -> list[str]:
    """The texts of the error boxes in the page's main area."""
    return [e.value for e in at.main.error]


def open_page(page: str, timeout: float) -> AppTest:
    """Start the app, switch to ``page`` (e.g. "pages/bias.py") and check it drew without an exception."""
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    at.switch_page(page).run()
    no_exception(at)
    return at


def _draw_stored(path: str, module: str, function: str) -> None:
    """AppTest script: draw the result stored at ``path`` with the page view ``module.function``.

    AppTest runs this function's source on its own, so it imports what it needs itself
    and its annotations name only builtins.
    """
    import importlib
    import json as _json

    view = getattr(importlib.import_module(module), function)
    with open(path, encoding="utf-8") as handle:
        view(_json.load(handle), key="t")


def draw_stored(module: str, function: str, result: dict[str, Any], folder: Path) -> AppTest:
    """Write ``result`` to folder/result.json and draw it with the view ``module.function`` under AppTest.

    Fails if drawing raised; returns the AppTest to inspect what was drawn.
    """
    path = folder / "result.json"
    path.write_text(json.dumps(result), encoding="utf-8")
    at = AppTest.from_function(_draw_stored, args=(str(path), module, function), default_timeout=60).run()
    no_exception(at)
    return at
