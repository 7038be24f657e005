"""Explain a prompt: perturbation attribution over template slots or text segments.

The form is ``ui.explain_form``; the run goes through ``core.engine.run`` in a
background thread and is saved; the result is drawn by ``ui.result_view``.
"""

from __future__ import annotations

from ui.compare_action import compare_controls
from ui.explain_form import JOB_KEY, PREFIX, RESULT_KEY, explain_form
from ui.page_table import heading
from ui.result_view import show_result
from ui.run_job import run_controls

heading("pages/explain.py")
spec, check = explain_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_result)
compare_controls(spec, check)
