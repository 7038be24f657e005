"""Token gradients: gradient attribution (integrated gradients and friends) over the prompt's tokens."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import WhyLMError
from core.presets import preset, presets_for
from core.spec import parse_spec
from pages.common import chosen_model_name, current_model, error_sentence, open_store
from pages.method_form import method_form, method_state
from pages.result_view import show_result
from pages.run_job import follow_run, show_outcome, start_run
from pages.spec_form import save_form, score_form, target_form, target_state

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


def main() -> None:
    """The page."""
    st.title("Token gradients")
    st.caption(
        "How strongly does each prompt token steer the model toward the output? Gradient methods "
        "answer from one pass through the model's insides; pick an output token (or a span) to "
        "see what it leaned on, and switch between words and tokens."
    )
    examples = presets_for("token_gradients")
    st.session_state.setdefault(f"{PREFIX}_preset", examples[0].id)
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.selectbox(
        "Worked examples",
        [p.id for p in examples],
        format_func=lambda pid: preset(pid).title,
        key=f"{PREFIX}_preset",
    )
    c2.button("Load example", on_click=load_example, key=f"{PREFIX}_load", width="stretch")
    spec = build_spec()
    save, title, tags = save_form(PREFIX)
    running = st.session_state.get(JOB_KEY) is not None
    if st.button("Run", type="primary", key=f"{PREFIX}_run", disabled=running):
        try:
            parse_spec(spec)
        except WhyLMError as exc:
            st.error(error_sentence(exc))
        else:
            lm, model_error = current_model()
            if lm is None:
                st.error(model_error)
            else:
                repo, store_error = open_store()
                if store_error and save:
                    st.warning(store_error)
                st.session_state.pop(f"{RESULT_KEY}_outcome", None)
                start_run(JOB_KEY, spec, lm, repo, title=title, tags=tags, save=save)
    follow_run(JOB_KEY, RESULT_KEY)
    show_outcome(RESULT_KEY)
    result = st.session_state.get(RESULT_KEY)
    if result is not None:
        st.divider()
        show_result(result, key=f"{PREFIX}_view")


main()
