"""Few-shot prompts: which examples of a few-shot prompt help the model answer right, and which hurt.

The form is ``ui.few_shot.form``; the run goes through ``core.engine.run`` in a
background thread and is saved; the result is drawn by ``ui.few_shot.view``.
"""

from __future__ import annotations

from ui.few_shot.form import JOB_KEY, PREFIX, RESULT_KEY, few_shot_form
from ui.few_shot.view import show_few_shot_result
from ui.shared.page_table import heading
from ui.shared.run_controls import run_controls

heading("pages/few_shot.py")
spec, check = few_shot_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_few_shot_result)
