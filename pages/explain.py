"""Explain a prompt: perturbation attribution over template slots or text segments.

The form is ``ui.explain.form``; the run goes through ``core.engine.run`` in a
background thread and is saved; the result is drawn by ``ui.explain.view``.
"""

from __future__ import annotations

from ui.explain.compare_action import compare_controls
from ui.explain.form import JOB_KEY, PREFIX, RESULT_KEY, explain_form
from ui.explain.view import show_result
from ui.shared.page_table import heading
from ui.shared.run_controls import run_controls

heading("pages/explain.py")
spec, check = explain_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_result)
compare_controls(spec, check)
