"""Small tables drawn whole: their text wraps, so every column stays in view at any window width."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st


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
    underneath (only their display is formatted). Cells are text, never HTML.
    """
    shown = {col: _formatter(fmt) for col, fmt in (formats or {}).items() if col in frame.columns}
    st.table(frame.style.format(shown).hide(axis="index"), hide_index=True)
