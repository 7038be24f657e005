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
from core.errors import SpecError
from ui.shared.widget_state import hold


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
    if isinstance(value, bool) or not isinstance(value, int | float) or type(value) is kind:
        return
    if kind is float or float(value).is_integer():
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
    number box for "int" and "float" (its value as typed, with a sentence below it
    when it is missing or out of the declared bounds), or a select
    box of the ``suggested`` values when the declaration offers some.
    """
    hold(key, p.default)
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
    return _number_input(p, key, where, disabled=disabled)


def number_problem(p: Param, value: Any) -> str | None:
    """What is wrong with ``value`` for the declared number ``p`` in a sentence naming the box, or None."""
    if value is None:
        whole = "a whole number" if p.kind in ("int", "int_or_choice") else "a number"
        return f"{p.label}: write {whole}; Run needs one here."
    try:
        p.validate(value)
    except SpecError as exc:
        message = exc.sentence
        if message.startswith(f"{p.name} "):
            message = message[len(p.name) + 1 :]
        return f"{p.label}: {message}"
    return None


def number_ok(p: Param, value: Any) -> bool:
    """Whether ``value`` is a number the spec parser accepts for ``p`` (what estimates need before they count)."""
    return number_problem(p, value) is None


def _number_input(p: Param, key: str, where: Any, *, disabled: bool) -> Any:
    """A number box that holds exactly what was typed: no bounds in the browser, a sentence here when it is out of range.

    The browser's own bounds would keep an out-of-range value on screen while the
    page runs with the last good one, and turn letters into the lowest value; here
    the box's value is what runs, and one out of range (or missing) gets a sentence
    that the spec parser's refusal at Run repeats.
    """
    whole = p.kind == "int"
    if whole:
        _coerce(key, int)
        options: dict[str, Any] = {"step": int(p.step or 1)}
    else:
        _coerce(key, float)
        options = {"format": "%g"} if p.step is None else {"format": "%g", "step": float(p.step)}
    value = where.number_input(p.label, value=None, key=key, help=p.help, disabled=disabled, **options)
    if whole and isinstance(value, float) and value.is_integer():
        value = int(value)
    problem = None if disabled else number_problem(p, value)
    if problem:
        where.error(problem, icon=":material/error:")
    return value
