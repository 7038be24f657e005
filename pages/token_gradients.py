"""Token gradients: gradient attribution (integrated gradients and friends) over the prompt's tokens.

The form is ``ui.token_gradients.form``; the run goes through ``core.engine.run``
in a background thread and is saved; the result is drawn by ``ui.explain.view``.
"""

from __future__ import annotations

from ui.explain.compare_action import GRADIENT_PAGE_METHODS, compare_controls
from ui.explain.view import show_result
from ui.shared.page_table import heading
from ui.shared.run_controls import run_controls
from ui.token_gradients.form import JOB_KEY, PREFIX, RESULT_KEY, token_gradients_form

heading("pages/token_gradients.py")
spec, check = token_gradients_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_result)
compare_controls(spec, check, prefix="tgcmp", default_methods=GRADIENT_PAGE_METHODS)
