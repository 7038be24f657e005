"""Token gradients: gradient attribution (integrated gradients and friends) over the prompt's tokens."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.presets import preset
from core.spec import parse_spec
from pages.common import chosen_model_name, error_sentence
from pages.method_form import method_form, method_state
from pages.page_parts import spec_problem, worked_example_picker
from pages.result_view import show_result
from pages.run_job import run_controls
from pages.spec_form import score_form, target_form, target_state

PREFIX = "tg"
JOB_KEY = "tg_job"
RESULT_KEY = "tg_result"


def load_example() -> None:
    """Button callback: fill the form with the chosen worked example."""
    example = preset(st.session_state[f"{PREFIX}_preset"])
    spec = example.spec_copy()
    state: dict[str, Any] = {
        f"{PREFIX}_text": spec["prompt"]["text"],
        f"{PREFIX}_chat": bool(spec.get("chat", False)),
        f"{PREFIX}_score": spec.get("score", "log_prob"),
        f"{PREFIX}_seed": int(spec.get("seed", 0)),
        f"{PREFIX}_title": example.title,
    }
    state.update(target_state(PREFIX, spec["target"]))
    state.update(method_state(PREFIX, spec["method"]))
    for key, value in state.items():
        st.session_state[key] = value


def build_spec() -> dict[str, Any]:
    """Draw the form and return the spec it describes."""
    st.session_state.setdefault(f"{PREFIX}_text", "")
    st.session_state.setdefault(f"{PREFIX}_chat", False)
    st.session_state.setdefault(f"{PREFIX}_seed", 0)
    text = st.text_area("Prompt text", key=f"{PREFIX}_text", height=100)
    chat = st.checkbox("Chat mode: wrap the prompt in the model's chat template", key=f"{PREFIX}_chat")
    target = target_form(PREFIX, allow_contrast=False)
    score = score_form(PREFIX)
    method = method_form(PREFIX, "gradient")
    seed = st.number_input("Random seed", step=1, key=f"{PREFIX}_seed", help="Used by methods that draw random samples.")
    return {
        "kind": "attribution",
        "model": chosen_model_name() or "default",
        "prompt": {"text": text, "granularity": "word"},
        "chat": bool(chat),
        "target": target,
        "score": score,
        "method": method,
        "trials": 1,
        "seed": int(seed),
    }


def check(spec: dict[str, Any]) -> str | None:
    """The sentence that says what to fix in the form, or None when the spec can run."""
    return spec_problem(parse_spec, spec, error_sentence)


def main() -> None:
    """The page."""
    st.title("Token gradients")
    st.caption(
        "How strongly does each prompt token steer the model toward the output? Gradient methods "
        "answer from one pass through the model's insides; pick an output token (or a span) to "
        "see what it leaned on, and switch between words and tokens."
    )
    worked_example_picker(PREFIX, "token_gradients", load_example)
    spec = build_spec()
    run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, lambda: check(spec), show_result)


main()
