"""Which view draws a result of each run kind: the UI's side of ``core.kinds.RUN_KINDS``.

Saved runs and the pages draw a result through this mapping. A kind without a view
here is drawn from its report section (``RunKind.report``: the same sentences, charts
and tables as the HTML report), so a kind registered in core alone opens too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.kinds import stored_kind
from core.present.report import summary_lines
from ui.bias.view import show_bias_result
from ui.documents.view import show_documents_result
from ui.explain.compare_view import show_compare_result
from ui.explain.view import show_result
from ui.few_shot.view import show_few_shot_result
from ui.shared.markdown import escape_markdown
from ui.shared.section_view import show_section
from ui.studies.view import show_study_result

ResultView = Callable[..., None]

RESULT_VIEWS: dict[str, ResultView] = {
    "attribution": show_result,
    "bias": show_bias_result,
    "few_shot": show_few_shot_result,
    "compare": show_compare_result,
    "documents": show_documents_result,
    "study": show_study_result,
}


def view_for(kind: str) -> ResultView:
    """The view that draws a result of ``kind`` (``show_result(result, key=...)`` for attribution).

    A kind without a view of its own gets :func:`show_report_section`.
    """
    return RESULT_VIEWS.get(kind, show_report_section)


def show_report_section(result: dict[str, Any], key: str) -> None:
    """Draw a result from its kind's report section (its summary lines when the kind has none)."""
    kind = stored_kind(result)
    if kind is not None and kind.report is not None:
        show_section(kind.report(result), key=key)
        return
    for line in summary_lines(result):
        st.info(escape_markdown(line))


def show_kind_result(kind: str, result: dict[str, Any], key: str) -> None:
    """Draw ``result`` with its kind's view."""
    view_for(kind)(result, key=key)
