"""Explain an answer from a document: which sentences of a document made the model answer as it did.

The form is ``ui.documents.form``; the run goes through ``core.engine.run`` in a
background thread and is saved; the result is drawn by ``ui.documents.view`` (its first result, the
paragraphs, while the sentences are still being measured).
"""

from __future__ import annotations

from ui.documents.form import JOB_KEY, PREFIX, RESULT_KEY, documents_form
from ui.documents.view import show_documents_partial, show_documents_result
from ui.shared.page_table import heading
from ui.shared.run_controls import run_controls

heading("pages/documents.py")
spec, check = documents_form()
run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, check, show_documents_result, partial=show_documents_partial)
