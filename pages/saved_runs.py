"""Saved runs: browse, open, compare, annotate, rename/tag/delete, export and import saved runs.

The filters, the table and the picked runs are ``ui.saved_browse``; a run is
drawn by ``ui.saved_views``; export and import are ``ui.saved_exchange``.
"""

from __future__ import annotations

from ui.page_table import heading
from ui.run_job import running_now
from ui.saved_browse import browse_saved_runs

heading("pages/saved_runs.py")
running_now("page")
browse_saved_runs()
