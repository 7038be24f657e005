"""The view of a ``compare`` result: the sentence naming the most faithful method, the table, the bars."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.present.method_comparison import (
    faithful_sentence,
    methods_bar_chart,
    methods_table,
    passes_sentence,
)
from ui.explain.view import show_result
from ui.shared.markdown import escape_markdown
from ui.shared.page_parts import json_download


def show_compare_result(result: dict[str, Any], key: str, title: str | None = None) -> None:
    """Draw a comparison of methods on one prompt; each method's own result in an expander."""
    if title:
        st.subheader(title)
    st.info(escape_markdown(faithful_sentence(result)))
    st.caption(escape_markdown(passes_sentence(result)))
    st.dataframe(methods_table(result), hide_index=True, key=f"{key}_methods")
    st.altair_chart(methods_bar_chart(result, title="Attribution per feature, by method"), width="stretch",
                    key=f"{key}_bars")
    for i, (row, res) in enumerate(zip(result.get("rows") or [], result.get("results") or [])):
        with st.expander(f"{row.get('method', 'method')}: the full picture"):
            show_result(res, key=f"{key}_m{i}")
    json_download(st, result, "whylm-compare.json", key)
