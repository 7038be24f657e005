"""Few-shot prompts: which examples of a few-shot prompt help the model answer right, and which hurt.

The form is ``ui.few_shot_form``; the run goes through ``core.engine.run`` in a
background thread and is saved; the result is drawn by ``ui.few_shot_view``.
"""

from __future__ import annotations

import streamlit as st

from ui.few_shot_form import JOB_KEY, PREFIX, RESULT_KEY, few_shot_form
from ui.few_shot_view import show_few_shot_result
from ui.run_job import run_controls

st.title("Few-shot prompts")
st.caption(
    "Which examples in a few-shot prompt help the model answer right, and which hurt? WhyLM leaves "
    "examples out in every combination, asks the model to label each test query, and measures how much "
    "each example raises or lowers the probability of the right label (its Shapley value). It also "
    "reports accuracy with no examples, all of them, each one left out, the best subset, and shuffled orders."
)
spec, check = few_shot_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_few_shot_result)
