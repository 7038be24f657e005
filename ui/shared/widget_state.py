"""Widget values kept in session state, sent to the browser with every drawing of the widget."""

from __future__ import annotations

from typing import Any

import streamlit as st


def hold(key: str, default: Any) -> None:
    """Give the widget ``key`` its value from session state (``default`` the first time), sent again every run.

    Setting it only once (``setdefault``) loses it in a race: a widget first drawn in a
    script run that a click interrupts gets its value in that run alone; the next run draws it
    without one, so the browser shows the widget's own default (an empty number box, an
    unticked box) and sends that back. Seen: Trials and Random seed blank after a quick
    Plain text / Text I give sequence; "Save the run" unticked on the first run after a
    start, so nothing was saved. Set every run, the value travels with each drawing.
    """
    st.session_state[key] = st.session_state.get(key, default)
