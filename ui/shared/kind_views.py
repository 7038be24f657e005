"""Which view draws a result of each run kind: the UI's side of ``core.kinds.RUN_KINDS``.

Saved runs and the pages draw a result through this mapping; a test checks
that every kind in the core registry has a view here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ui.bias.view import show_bias_result
from ui.explain.compare_view import show_compare_result
from ui.explain.view import show_result
from ui.few_shot.view import show_few_shot_result

ResultView = Callable[..., None]

RESULT_VIEWS: dict[str, ResultView] = {
    "attribution": show_result,
    "bias": show_bias_result,
    "few_shot": show_few_shot_result,
    "compare": show_compare_result,
}


def view_for(kind: str) -> ResultView:
    """The view that draws a result of ``kind`` (``show_result(result, key=...)`` for attribution)."""
    return RESULT_VIEWS[kind]


def show_kind_result(kind: str, result: dict[str, Any], key: str) -> None:
    """Draw ``result`` with its kind's view."""
    view_for(kind)(result, key=key)
