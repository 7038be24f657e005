"""The few-shot form's settings (chat mode, the instruction as a feature, the Shapley method, order
trials, seed) and the note on what a run will compute.

Every widget here is drawn from a declaration in ``core.probes.few_shot.settings``
(label, help, default, bounds), the same declarations ``parse_few_shot_spec``
validates against; whether a run is exact or sampled, and what it costs, come
from that module's :func:`uses_exact` and :func:`few_shot_cost`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.attribution.methods import Param
from core.probes.few_shot.settings import (
    CHAT,
    INSTRUCTION_AS_FEATURE,
    MAX_EXACT,
    METHOD,
    N_SAMPLES,
    NORMALISE,
    ORDER_TRIALS,
    SEED,
    SETTINGS,
    few_shot_cost,
    uses_exact,
)
from ui.shared.markdown import escape_markdown
from ui.shared.param_inputs import number_ok, param_input, widget_value

# Widget key (after the page prefix) of each setting; the spec's field name unless listed.
KEYS: dict[str, str] = {INSTRUCTION_AS_FEATURE.name: "as_feature"}


def setting_key(prefix: str, name: str) -> str:
    """Session-state key of the widget of the setting ``name``."""
    return f"{prefix}_{KEYS.get(name, name)}"


def settings_state(prefix: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Widget values (key -> value) that show a few-shot spec's settings in :func:`settings_form`.

    ``max_exact`` and ``n_samples`` may sit inside a ``method`` object; a field of the spec itself wins.
    """
    method = spec.get(METHOD.name, METHOD.default)
    fields = dict(spec)
    if isinstance(method, dict):
        fields = {**method, **spec, METHOD.name: method.get("name", METHOD.default)}
    return {setting_key(prefix, p.name): widget_value(p, fields) for p in SETTINGS}


def settings_form(prefix: str) -> dict[str, Any]:
    """Chat mode, the instruction as a feature, the Shapley method, order trials and seed."""

    def draw(p: Param, where: Any = st, **options: Any) -> Any:
        return param_input(p, setting_key(prefix, p.name), where, **options)

    c1, c2 = st.columns(2)
    chat = draw(CHAT, c1)
    as_feature = draw(INSTRUCTION_AS_FEATURE, c2)
    method = draw(METHOD, widget="radio")
    c3, c4, c5, c6 = st.columns(4)
    max_exact = draw(MAX_EXACT, c3, disabled=method != "auto")
    n_samples = draw(N_SAMPLES, c4, disabled=method == "exact")
    order_trials = draw(ORDER_TRIALS, c5)
    seed = draw(SEED, c6)
    normalise = draw(NORMALISE)
    return {
        "chat": chat,
        "include_instruction_as_feature": as_feature,
        "method": method,
        "max_exact": max_exact,
        "n_samples": n_samples,
        "order_trials": order_trials,
        "seed": seed,
        "normalise": normalise,
    }


def method_note(spec: dict[str, Any]) -> None:
    """Before the run: say when Shapley values switch to sampling, and how much will be scored."""
    n_examples = len(spec["examples"])
    n_features = n_examples + (1 if spec["include_instruction_as_feature"] else 0)
    if not n_examples or not spec["queries"] or len(spec["labels"]) < 2:
        return
    if not all(number_ok(p, spec[p.name]) for p in (MAX_EXACT, N_SAMPLES, ORDER_TRIALS)):
        return  # each box out of range says so below it; nothing to count yet
    limit = spec["max_exact"]
    if spec["method"] == "auto" and not uses_exact(spec["method"], n_features, limit, spec["n_samples"]):
        what = f"{n_examples} examples" + (" and the instruction" if n_features > n_examples else "")
        st.info(
            f"With {what} ({n_features} features, more than {limit}), exact Shapley values would need "
            f"{2**n_features:,} prompts per query, so this run switches to sampling: the values are "
            f"estimated from {spec['n_samples']} random orders of the features. Raise the number of samples "
            "for steadier values, or use fewer examples for exact ones."
        )
    cost = few_shot_cost(
        n_features,
        len(spec["queries"]),
        len(spec["labels"]),
        spec["method"],
        limit,
        spec["n_samples"],
        spec["order_trials"],
    )
    st.caption(escape_markdown(cost.sentence()))
