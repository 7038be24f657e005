"""Method pickers rendered from the declarations in ``core.attribution.methods`` (a new method needs no page edit).

:func:`method_form` draws a method selector for one family and one widget
per declared parameter (int, float, bool and choice through ``ui.shared.param_inputs``;
int_or_choice here) and returns
the spec's ``method`` object. :func:`method_state` turns a spec's method
object back into widget values (for loading examples).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.attribution.methods import METHODS, MethodInfo, Param, methods_of_family
from ui.shared.param_inputs import param_input
from ui.shared.widget_state import hold

TOKEN_ID = "a token id"


def param_key(prefix: str, method: str, param: str) -> str:
    """Session-state key of one parameter widget."""
    return f"{prefix}_param_{method}_{param}"


def method_key(prefix: str) -> str:
    """Session-state key of the method selector."""
    return f"{prefix}_method"


def method_state(prefix: str, method: dict[str, Any]) -> dict[str, Any]:
    """Widget values (key -> value) that show the spec's ``method`` object in the form."""
    info = METHODS[method["name"]]
    state: dict[str, Any] = {method_key(prefix): info.name}
    for p in info.params:
        value = method.get(p.name, p.default)
        key = param_key(prefix, info.name, p.name)
        if p.kind == "int_or_choice":
            if isinstance(value, str):
                state[key] = value
            else:
                state[key] = TOKEN_ID
                state[key + "_id"] = int(value)
        else:
            state[key] = value
    return state


def _param_widget(prefix: str, info: MethodInfo, p: Param) -> Any:
    key = param_key(prefix, info.name, p.name)
    if p.kind != "int_or_choice":
        return param_input(p, key)
    hold(key, p.default)
    choice = st.selectbox(
        p.label,
        [*p.choices, TOKEN_ID],
        format_func=lambda c: c if c == TOKEN_ID else p.choice_label(c),
        key=key,
        help=p.help,
    )
    if choice != TOKEN_ID:
        return choice
    hold(key + "_id", int(p.minimum or 0))
    return int(
        st.number_input(
            f"{p.label}: token id", min_value=int(p.minimum or 0), step=1, key=key + "_id", help=p.help
        )
    )


def method_form(prefix: str, family: str, default: str | None = None) -> dict[str, Any]:
    """Draw the method selector and its parameters; return ``{"name": ..., param: value, ...}``.

    The selector starts at ``default`` (the family's first method when None or not of the family).
    """
    options = [m.name for m in methods_of_family(family)]
    key = method_key(prefix)
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]
    name = st.selectbox(
        "Method",
        options,
        format_func=lambda n: METHODS[n].title,
        key=key,
        help="How the attribution is computed; each method's settings appear below it.",
    )
    info = METHODS[name]
    st.caption(info.description)
    out: dict[str, Any] = {"name": name}
    if info.params:
        cols = st.columns(min(3, len(info.params)))
        for i, p in enumerate(info.params):
            with cols[i % len(cols)]:
                out[p.name] = _param_widget(prefix, info, p)
    return out
