"""A page's run controls: save options, the time estimate, Run, progress, the outcome and the result.

Every page that runs something ends with :func:`run_controls`; the job itself (a background
thread, its progress, Stop, saving) is ``ui.shared.run_job``, the address bar ``ui.shared.links``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from ui.shared.errors import show_error
from ui.shared.links import autorun_key, remember_run_shown, url_follows_job, url_follows_run
from ui.shared.page_parts import form_drawn, time_estimate
from ui.shared.run_job import RunFunction, follow_run, launch_run, run_refusal, show_outcome
from ui.shared.spec_form import save_form


def run_controls(
    prefix: str,
    job_key: str,
    result_key: str,
    spec: dict[str, Any] | None,
    check: Callable[[], str | None],
    show: Callable[..., None],
    run_fn: RunFunction | None = None,
    partial: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """A page's save options, Run button, progress, outcome and result view.

    ``check`` returns the sentence that says what to fix (or None) and is only
    called when Run is pressed; ``show(result, key=...)`` draws a finished result;
    ``partial(result)`` draws a first result the run hands over while it goes on.
    """
    save, title, tags = save_form(prefix, spec)
    running = st.session_state.get(job_key) is not None
    blocked = run_refusal(spec)  # a prompt too long for the model, or a run over the work limit
    if blocked:
        show_error(blocked)
    else:
        time_estimate(spec)  # before Run: how long it will take here
    again = bool(st.session_state.pop(autorun_key(prefix), False)) and not blocked  # a "Run again" link
    if st.button("Run", type="primary", key=f"{prefix}_run", disabled=running or bool(blocked)) or (
        again and not running
    ):
        launch_run(job_key, result_key, spec, check(), save, title, tags, run_fn)
        url_follows_job(st.session_state.get(job_key))
    form_drawn(prefix)  # the page has been sent the whole form: a loaded preset need not be written again
    finished = follow_run(job_key, result_key, partial_view=partial)
    if finished is not None:
        url_follows_run(prefix, finished.run_id)
        if running:  # this script run drew Run disabled and the sidebar's "Running now" with the job: redraw
            st.rerun()
    show_outcome(result_key)
    result = st.session_state.get(result_key)
    if result is not None:
        st.divider()
        outcome = st.session_state.get(f"{result_key}_outcome") or {}
        remember_run_shown(f"{prefix}_view", outcome.get("run_id"))  # the view's links name the saved run
        show(result, key=f"{prefix}_view")
