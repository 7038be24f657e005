"""The Token gradients form: the prompt text, the output, the score and the gradient method.

:func:`token_gradients_form` draws the worked examples and the whole form and
returns the attribution spec (see ``core.attribution.spec``) with the check that Run calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.attribution.presets import preset
from core.attribution.spec import FAITHFULNESS, SEED
from ui.shared.errors import error_sentence
from ui.shared.links import forget_run_link, restore_from_url
from ui.shared.method_form import method_form, method_state
from ui.shared.model import chosen_model
from ui.shared.page_parts import spec_problem, stage_form, worked_example_picker
from ui.shared.param_inputs import param_input, widget_value
from ui.shared.spec_form import (
    chat_from_key,
    chat_input,
    example_state,
    score_form,
    target_form,
    target_state,
)

PREFIX = "tg"
JOB_KEY = "tg_job"
RESULT_KEY = "tg_result"


def load_example() -> None:
    """Button callback: fill the form with the chosen worked example (all at once, see ``stage_form``)."""
    example = preset(st.session_state[f"{PREFIX}_preset"])
    load_spec(example.spec_copy(), example.title)
    forget_run_link()


def load_spec(spec: dict[str, Any], title: str) -> None:
    """Fill the form from an attribution spec (an example or a saved run's), named ``title`` while unchanged."""
    state: dict[str, Any] = {
        f"{PREFIX}_text": spec["prompt"]["text"],
        f"{PREFIX}_chat": bool(spec.get("chat", False)),
        chat_from_key(PREFIX): title if spec.get("chat") else None,
        f"{PREFIX}_score": spec.get("score", "log_prob"),
        f"{PREFIX}_seed": widget_value(SEED, spec),
        f"{PREFIX}_faithfulness": widget_value(FAITHFULNESS, spec),
    }
    state.update(target_state(PREFIX, spec["target"]))
    state.update(example_state(PREFIX, title, spec))
    state.update(method_state(PREFIX, spec["method"]))
    stage_form(PREFIX, state)


def build_spec() -> dict[str, Any]:
    """Draw the form and return the spec it describes."""
    st.session_state.setdefault(f"{PREFIX}_text", "")
    text = st.text_area("Prompt text", key=f"{PREFIX}_text", height=100)
    chat = chat_input(PREFIX)
    target = target_form(PREFIX, allow_contrast=False)
    score = score_form(PREFIX)
    method = method_form(PREFIX, "gradient")
    c1, c2 = st.columns(2, vertical_alignment="bottom")
    seed = param_input(SEED, f"{PREFIX}_seed", c1)
    faithful = param_input(FAITHFULNESS, f"{PREFIX}_faithfulness", c2)
    return {
        "kind": "attribution",
        "model": chosen_model(),
        "prompt": {"text": text, "granularity": "word"},
        "chat": bool(chat),
        "target": target,
        "score": score,
        "method": method,
        "trials": 1,
        "seed": seed,
        "faithfulness": faithful,
    }


def check(spec: dict[str, Any]) -> str | None:
    """The sentence that says what to fix in the form, or None when the spec can run."""
    return spec_problem(spec, error_sentence)


def token_gradients_form() -> tuple[dict[str, Any], Callable[[], str | None]]:
    """The worked examples and the whole form; returns (spec, the check Run calls)."""
    restored = restore_from_url(PREFIX, load_spec, RESULT_KEY, JOB_KEY)
    worked_example_picker(PREFIX, "token_gradients", load_example, load_first=not restored)
    st.caption(preset(st.session_state[f"{PREFIX}_preset"]).description)
    spec = build_spec()
    return spec, lambda: check(spec)
