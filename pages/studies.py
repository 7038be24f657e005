"""Bias studies: a whole item set (minimal pairs, BBQ-style questions, template rows) on one to four models.

The form is ``ui.studies.form``; the run goes through ``core.engine.run`` in a background thread and is
saved; the result is drawn by ``ui.studies.view``.
"""

from __future__ import annotations

from ui.shared.page_table import heading
from ui.shared.run_controls import run_controls
from ui.studies.form import JOB_KEY, PREFIX, RESULT_KEY, study_form
from ui.studies.view import show_study_result

heading("pages/studies.py")
spec, check = study_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_study_result)
