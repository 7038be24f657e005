"""The Compare methods action of the Explain page: the form's prompt and target, several methods, one run.

:func:`compare_controls` draws a method picker and the run controls of a ``compare``
spec (``core.attribution.comparison``) built from the page's attribution spec; the
result is drawn by ``ui.compare_view``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.attribution.comparison import DEFAULT_METHODS, parse_compare_spec
from core.attribution.methods import METHODS
from core.errors import SpecError
from ui.compare_view import show_compare_result
from ui.run_job import follow_run, launch_run, show_outcome

PREFIX = "cmp"
JOB_KEY = "cmp_job"
RESULT_KEY = "cmp_result"


def compare_spec(spec: dict[str, Any] | None, methods: list[str]) -> dict[str, Any] | None:
    """The compare spec of an attribution spec (its method replaced by ``methods``); None without a spec."""
    if spec is None:
        return None
    doc = {k: v for k, v in spec.items() if k not in ("method", "faithfulness", "kind")}
    return {"kind": "compare", **doc, "methods": list(methods)}


def compare_problem(spec: dict[str, Any] | None, form_error: str | None) -> str | None:
    """Why the comparison cannot run, in one sentence (the form's own problem first); None when it can."""
    if form_error:
        return form_error
    if spec is None:
        return "Fill in the form above first."
    try:
        parse_compare_spec(spec)
    except SpecError as exc:
        return str(exc)
    return None


def compare_controls(spec: dict[str, Any] | None, form_check: Any) -> None:
    """An expander: pick methods, then run them all on the form's prompt and target, and show the table.

    The run is saved like any other (kind ``compare``); the address bar keeps following the page's own run.
    """
    with st.expander("Compare methods on this prompt", expanded=st.session_state.get(RESULT_KEY) is not None):
        st.caption(
            "Runs several methods on the same prompt and output, sharing every scored prompt, and says "
            "which explains the model most faithfully (deletion and insertion curves against random orders)."
        )
        chosen = st.multiselect(
            "Methods",
            list(METHODS),
            default=list(DEFAULT_METHODS),
            format_func=lambda name: METHODS[name].title,
            key=f"{PREFIX}_methods",
        )
        doc = compare_spec(spec, chosen)

        running = st.session_state.get(JOB_KEY) is not None
        if st.button("Compare", key=f"{PREFIX}_run", disabled=running or not chosen):
            launch_run(JOB_KEY, RESULT_KEY, doc, compare_problem(doc, form_check()), True, "", [])
        follow_run(JOB_KEY, RESULT_KEY)
        show_outcome(RESULT_KEY)
        result = st.session_state.get(RESULT_KEY)
        if result is not None:
            show_compare_result(result, key=f"{PREFIX}_view")
