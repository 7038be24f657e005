"""The bias form's settings: score, statistics, chat mode and the slot attribution.

Every widget here is drawn from a declaration in ``core.probes.bias.settings``
(label, help, default, bounds), the same declarations ``parse_bias_spec``
validates against; the attribution method's own parameters come from
``core.attribution.methods`` through :func:`ui.shared.method_form.method_form`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.attribution.methods import Param
from core.probes.bias.settings import (
    ATTRIBUTION_ENABLED,
    ATTRIBUTION_METHOD,
    ATTRIBUTION_PROMPTS,
    ATTRIBUTION_TRIALS,
    BOOTSTRAP,
    CHAT,
    LEVEL,
    PERMUTATIONS,
    SCORE,
    SEED,
    SETTINGS,
)
from ui.shared.method_form import method_form, method_state
from ui.shared.param_inputs import param_input, widget_value

# Widget key (after the page prefix) of each setting inside the spec's ``attribution`` object.
ATTRIBUTION_KEYS: dict[str, str] = {
    ATTRIBUTION_ENABLED.name: "attr_on",
    ATTRIBUTION_TRIALS.name: "attr_trials",
    ATTRIBUTION_PROMPTS.name: "attr_prompts",
}
ATTRIBUTION_PREFIX = "attr"  # the attribution method's widgets: {prefix}_attr_method, ...


def _key(prefix: str, name: str) -> str:
    return f"{prefix}_{name}"


def settings_state(prefix: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Widget values (key -> value) that show a bias spec's settings in :func:`settings_form`."""
    state = {_key(prefix, p.name): widget_value(p, spec) for p in SETTINGS}
    attr = spec.get("attribution", ATTRIBUTION_ENABLED.default)
    attr = {ATTRIBUTION_ENABLED.name: attr} if isinstance(attr, bool) else dict(attr)
    for p in (ATTRIBUTION_ENABLED, ATTRIBUTION_TRIALS, ATTRIBUTION_PROMPTS):
        state[_key(prefix, ATTRIBUTION_KEYS[p.name])] = widget_value(p, attr)
    method = {"name": attr.get(ATTRIBUTION_METHOD.name, ATTRIBUTION_METHOD.default), **attr.get("params", {})}
    state.update(method_state(_key(prefix, ATTRIBUTION_PREFIX), method))
    return state


def _setting(prefix: str, p: Param, where: Any = st, **options: Any) -> Any:
    return param_input(p, _key(prefix, p.name), where, **options)


def _attribution_form(prefix: str) -> dict[str, Any]:
    """The attribution switch, method and its cost settings; returns the spec's ``attribution`` object."""
    with st.container(border=True):
        attr_on = param_input(ATTRIBUTION_ENABLED, _key(prefix, ATTRIBUTION_KEYS["enabled"]), widget="toggle")
        attribution: dict[str, Any] = {"enabled": bool(attr_on)}
        if attr_on:
            method = method_form(_key(prefix, ATTRIBUTION_PREFIX), "perturbation", ATTRIBUTION_METHOD.default)
            c5, c6 = st.columns(2)
            trials = param_input(ATTRIBUTION_TRIALS, _key(prefix, ATTRIBUTION_KEYS["trials"]), c5)
            prompts = param_input(ATTRIBUTION_PROMPTS, _key(prefix, ATTRIBUTION_KEYS["prompts"]), c6)
            params = {p: v for p, v in method.items() if p != "name"}
            attribution.update(
                {"method": method["name"], "trials": trials, "prompts": prompts, "params": params}
            )
    return attribution


def settings_form(prefix: str) -> dict[str, Any]:
    """Score, statistics, chat and attribution settings; returns those parts of the spec."""
    score = _setting(prefix, SCORE, widget="radio")
    c1, c2, c3, c4 = st.columns(4)
    bootstrap = _setting(prefix, BOOTSTRAP, c1)
    permutations = _setting(prefix, PERMUTATIONS, c2)
    level = _setting(prefix, LEVEL, c3, format_func=lambda v: f"{v:.0%}")
    seed = _setting(prefix, SEED, c4)
    chat = _setting(prefix, CHAT)
    return {
        "chat": chat,
        "score": score,
        "bootstrap": bootstrap,
        "permutations": permutations,
        "level": float(level),
        "seed": seed,
        "attribution": _attribution_form(prefix),
    }
