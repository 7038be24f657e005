"""A kind's ``ReportSection`` drawn in the page: its result (for a kind without a view of its own) or
the comparison of its runs, with the same sentences, lists, charts and tables as the HTML report."""

from __future__ import annotations

import streamlit as st

from core.present.report_parts import ReportSection
from ui.shared.markdown import escape_markdown

SENTENCE_BOXES = {"summary": st.info, "warning": st.warning, "muted": st.caption}


def show_section(part: ReportSection, key: str) -> None:
    """Draw ``part``: its sentences (lead in a box, warnings in another), its list, charts and tables.

    ``key`` keeps the widgets of two sections on one page apart.
    """
    for css, line in part.sentences:
        SENTENCE_BOXES.get(css, st.markdown)(escape_markdown(line))
    if part.bullets:
        st.markdown("\n".join(f"- {escape_markdown(line)}" for line in part.bullets))
    for i, (caption, chart) in enumerate(part.charts):
        if chart is not None:
            st.caption(escape_markdown(caption))
            st.altair_chart(chart, width="stretch", key=f"{key}_chart_{i}")
    for i, (caption, frame) in enumerate(part.tables):
        st.markdown(f"**{escape_markdown(caption)}**")
        st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}_table_{i}")
