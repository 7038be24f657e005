"""Bias associations: sweep a template's slot over groups of values and compare candidates' probabilities.

The form is ``ui.bias.form``; the run goes through ``core.engine.run`` in a
background thread and is saved; the result is drawn by ``ui.bias.view``.
"""

from __future__ import annotations

from ui.bias.form import JOB_KEY, PREFIX, RESULT_KEY, bias_form
from ui.bias.view import show_bias_result
from ui.shared.page_table import heading
from ui.shared.run_controls import run_controls

heading("pages/bias.py")
spec, check = bias_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_bias_result)
