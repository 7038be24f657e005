"""Widgets drawn from declared settings (``core.attribution.methods.Param``).

The method forms and the probe forms draw every declared setting through
:func:`param_input`, so a widget's label, help, default and bounds are the
ones the spec parser checks against. :func:`widget_value` turns a spec's
value back into what the widget shows (for loading a preset or a saved run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from core.attribution.methods import Param


def widget_value(p: Param, doc: Mapping[str, Any]) -> Any:
    """What the widget of ``p`` shows for the spec object ``doc`` (the declared default when left out)."""
    value = doc.get(p.name, p.default)
    if p.kind == "bool":
        return bool(value)
    if p.kind == "int":
        return int(value)
    if p.kind == "float":
        return float(value)
    return value


def _nearest(p: Param, key: str) -> None:
    """Snap the state of a number drawn as a pick list to the nearest suggested value."""
    value = st.session_state[key]
    if value not in p.suggested:
        st.session_state[key] = min(p.suggested, key=lambda v: abs(v - float(value)))


def _coerce(key: str, kind: type) -> None:
    """Give a number box's state the box's type (a loaded spec may hold 3.0 for a whole number)."""
    value = st.session_state[key]
    if type(value) is not kind:
        st.session_state[key] = kind(value)


def param_input(
    p: Param,
    key: str,
    where: Any = st,
    *,
    widget: str | None = None,
    disabled: bool = False,
    format_func: Callable[[Any], str] | None = None,
) -> Any:
    """Draw the widget of one declared setting in ``where`` (``st`` or a column) and return its value.

    The widget starts at the declared default (unless ``key`` already holds a
    value). By kind: a checkbox for "bool" (``widget="toggle"`` for a switch),
    a select box for "choice" (``widget="radio"`` for horizontal buttons), a
    number box for "int" and "float" within the declared bounds, or a select
    box of the ``suggested`` values when the declaration offers some.
    """
    st.session_state.setdefault(key, p.default)
    if p.kind == "bool":
        draw = where.toggle if widget == "toggle" else where.checkbox
        return bool(draw(p.label, key=key, help=p.help, disabled=disabled))
    if p.kind == "choice":
        words = format_func or p.choice_label
        if widget == "radio":
            return where.radio(
                p.label,
                list(p.choices),
                format_func=words,
                key=key,
                horizontal=True,
                help=p.help,
                disabled=disabled,
            )
        return where.selectbox(
            p.label, list(p.choices), format_func=words, key=key, help=p.help, disabled=disabled
        )
    if p.suggested:
        _nearest(p, key)
        return where.selectbox(
            p.label,
            list(p.suggested),
            format_func=format_func or str,
            key=key,
            help=p.help,
            disabled=disabled,
        )
    top = None if p.exclusive_maximum else p.maximum
    if p.kind == "int":
        _coerce(key, int)
        return int(
            where.number_input(
                p.label,
                min_value=None if p.minimum is None else int(p.minimum),
                max_value=None if top is None else int(top),
                step=int(p.step or 1),
                key=key,
                help=p.help,
                disabled=disabled,
            )
        )
    extra = {} if p.step is None else {"step": float(p.step)}
    _coerce(key, float)
    return float(
        where.number_input(
            p.label,
            min_value=None if p.minimum is None else float(p.minimum),
            max_value=None if top is None else float(top),
            format="%g",
            key=key,
            help=p.help,
            disabled=disabled,
            **extra,
        )
    )
