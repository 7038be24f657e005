"""Small tables drawn whole: their text wraps, so every column stays in view at any window width."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from ui.shared.markdown import literal_markdown


def _formatter(fmt: str) -> Callable[[Any], str]:
    def shown(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        return fmt % value

    return shown


def whole_table(frame: pd.DataFrame, formats: Mapping[str, str] | None = None) -> None:
    """Draw ``frame`` as a static table; ``formats`` gives columns a printf format ("%+.2f").

    A scrolling grid (``st.dataframe``) sizes its columns to their longest text and, at
    1000 px, hides the right-hand columns (a verdict's corrected p, an example's Shapley
    value) behind a scroll bar; here long texts wrap instead. The numbers stay numbers
    underneath (only their display is formatted). A static table reads its cells as Markdown,
    so every text cell is escaped (:func:`~ui.shared.markdown.literal_markdown`): a model's or a
    file's "[x](url)" stays text, never a link, "$x$" never a formula, and never HTML.
    """
    texts = frame.apply(lambda column: column.map(lambda v: literal_markdown(v) if isinstance(v, str) else v))
    shown = {col: _formatter(fmt) for col, fmt in (formats or {}).items() if col in frame.columns}
    st.table(texts.style.format(shown).hide(axis="index"), hide_index=True)
