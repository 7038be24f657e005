"""Saved runs: browse, open, compare, annotate, rename/tag/delete, export and import saved runs.

The filters, the table and the picked runs are ``ui.saved_browse``; a run is
drawn by ``ui.saved_views``; export and import are ``ui.saved_exchange``.
"""

from __future__ import annotations

import streamlit as st

from ui.run_job import running_now
from ui.saved_browse import browse_saved_runs

st.title("Saved runs")
st.caption(
    "Every run made on the other pages is saved here. Open a run to see its charts as they were, "
    "compare runs, add review notes, and export them. Nothing is recomputed."
)
running_now("page")
browse_saved_runs()
