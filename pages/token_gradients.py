"""Token gradients: gradient attribution (integrated gradients and friends) over the prompt's tokens.

The form is ``ui.token_gradients_form``; the run goes through ``core.engine.run``
in a background thread and is saved; the result is drawn by ``ui.result_view``.
"""

from __future__ import annotations

import streamlit as st

from ui.compare_action import GRADIENT_PAGE_METHODS, compare_controls
from ui.result_view import show_result
from ui.run_job import run_controls
from ui.token_gradients_form import JOB_KEY, PREFIX, RESULT_KEY, token_gradients_form

st.title("Token gradients")
st.caption(
    "How strongly does each prompt token steer the model toward the output? Gradient methods "
    "answer from one pass through the model's insides; pick an output token (or a span) to "
    "see what it leaned on, and switch between words and tokens."
)
spec, check = token_gradients_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_result)
compare_controls(spec, check, prefix="tgcmp", default_methods=GRADIENT_PAGE_METHODS)
