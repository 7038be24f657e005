"""Bias associations: sweep a template's slot over groups of values and compare candidates' probabilities.

The form is ``ui.bias_form``; the run goes through ``core.engine.run`` in a
background thread and is saved; the result is drawn by ``ui.bias_view``.
"""

from __future__ import annotations

import streamlit as st

from ui.bias_form import JOB_KEY, PREFIX, RESULT_KEY, bias_form
from ui.bias_view import show_bias_result
from ui.run_job import run_controls

st.title("Bias associations")
st.caption(
    "Does the model tie some continuations to some groups? WhyLM fills a template with many values "
    "from two groups (for example women's and men's names), scores each candidate continuation after "
    "every prompt, and compares the groups with confidence intervals and tests."
)
spec, check = bias_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_bias_result)
