"""Saved runs: browse, open, compare, annotate, rename/tag/delete, export and import saved runs.

The filters, the table and the picked runs are ``ui.saved_runs.browse``; a run is
drawn by ``ui.saved_runs.views``; export and import are ``ui.saved_runs.exchange``.
"""

from __future__ import annotations

from ui.saved_runs.browse import browse_saved_runs
from ui.shared.page_table import heading
from ui.shared.run_job import running_now

heading("pages/saved_runs.py")
running_now("page")
browse_saved_runs()
