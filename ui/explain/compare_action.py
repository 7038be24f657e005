"""The Compare methods action of the Explain page: the form's prompt and target, several methods, one run.

:func:`compare_controls` draws a method picker and the run controls of a ``compare``
spec (``core.attribution.comparison``) built from the page's attribution spec; the
result is drawn by ``ui.explain.compare_view``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.attribution.comparison import DEFAULT_METHODS
from core.attribution.methods import METHODS
from core.errors import SpecError
from core.kinds import parse
from ui.explain.compare_view import show_compare_result
from ui.shared.errors import show_error
from ui.shared.page_parts import time_estimate
from ui.shared.run_job import follow_run, launch_run, run_refusal, show_outcome

PREFIX = "cmp"
"""The Explain page's keys (``cmp_methods``, ``cmp_job``, ``cmp_result``, ...); another page passes its own prefix."""
GRADIENT_PAGE_METHODS = ("input_x_gradient", "saliency", "gradient_shap", "feature_ablation", "shapley")
"""Offered first on the Token gradients page: its own gradient methods beside perturbation over the same words."""


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
        parse(spec)
    except SpecError as exc:
        return str(exc)
    return None


def compare_controls(
    spec: dict[str, Any] | None,
    form_check: Any,
    prefix: str = PREFIX,
    default_methods: tuple[str, ...] = DEFAULT_METHODS,
) -> None:
    """An expander: pick methods, then run them all on the form's prompt and target, and show the table.

    ``prefix`` keeps one page's comparison apart from another's (its widget, job and result keys);
    ``default_methods`` are the methods picked at first. The run is saved like any other (kind
    ``compare``); the address bar keeps following the page's own run.
    """
    job_key, result_key = f"{prefix}_job", f"{prefix}_result"
    with st.expander("Compare methods on this prompt", expanded=st.session_state.get(result_key) is not None):
        st.caption(
            "Runs several methods on the same prompt and output, sharing every scored prompt, and says "
            "which explains the model most faithfully (deletion and insertion curves against random orders)."
        )
        st.session_state.setdefault(f"{prefix}_methods", list(default_methods))  # a saved comparison sets them
        chosen = st.multiselect(
            "Methods",
            list(METHODS),
            format_func=lambda name: METHODS[name].title,
            key=f"{prefix}_methods",
        )
        doc = compare_spec(spec, chosen)
        blocked = run_refusal(doc) if chosen else None  # too long for the model, or over the work limit
        if blocked:
            show_error(blocked)
        else:
            time_estimate(doc if chosen else None)  # before Compare: how long all the methods take here

        running = st.session_state.get(job_key) is not None
        if st.button("Compare", key=f"{prefix}_run", disabled=running or not chosen or bool(blocked)):
            launch_run(job_key, result_key, doc, compare_problem(doc, form_check()), True, "", [])
        follow_run(job_key, result_key)
        show_outcome(result_key)
        result = st.session_state.get(result_key)
        if result is not None:
            show_compare_result(result, key=f"{prefix}_view")
