"""The sidebar every page shares: the model picker (offered models, a served model, precision),
the pinned model of a saved run, the model's line, the runs in progress and where runs are saved.

app.py draws it once per run with :func:`render_sidebar`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.models.catalog import (
    ANY_MODEL_ENV,
    MODELS_ENV,
    offered_models,
)
from core.models.loading import DEFAULT_MODEL, default_device
from core.store.database import describe_url
from ui.shared.errors import show_error
from ui.shared.markdown import escape_markdown
from ui.shared.model import (
    BUNDLED_CHOICE,
    ENDPOINT_KEY,
    MACHINE_DEFAULT,
    MODEL_CHOICE_KEY,
    MODEL_NAME_KEY,
    OTHER_CHOICE,
    PRECISION_KEY,
    PRECISION_LABELS,
    REFUSED_KEY,
    SERVED_CHOICE,
    SERVED_NAME_KEY,
    TOKENIZER_KEY,
    chosen_model_name,
    current_model,
    model_choice,
    model_options,
    not_offered,
    pinned_model,
    unpin_model,
)
from ui.shared.run_job import running_now
from ui.shared.store import open_store
from ui.shared.widget_state import hold
from ui.warm_up import loading_model

ABOUT = (
    "WhyLM shows **why a language model wrote what it wrote**: it changes parts of your prompt "
    "and measures how the probability of the output moves. Blue parts pushed the model toward "
    "the output, red parts against it. Every run is saved so it can be reviewed later."
)


def render_sidebar() -> Callable[[], None]:
    """The sidebar: model picker (with device and size), database location, and what WhyLM is.

    Returns a function to call once the page has drawn: at start-up, while the
    warm-up thread is still loading the bundled model, the sidebar says so
    instead of holding the page up, and that function fills in the model's
    line when it is ready. Otherwise the function does nothing.
    """
    with st.sidebar:
        st.subheader("Model")
        _model_picker()
        if st.session_state[MODEL_CHOICE_KEY] == OTHER_CHOICE:
            hold(MODEL_NAME_KEY, "")
            st.text_input(
                "Hugging Face model id or local folder",
                key=MODEL_NAME_KEY,
                placeholder="e.g. HuggingFaceTB/SmolLM2-360M-Instruct or /models/my-llm",
                help="Any causal (text-generating) language model; press Enter to load it.",
                on_change=unpin_model,
            )
        if st.session_state[MODEL_CHOICE_KEY] == SERVED_CHOICE:
            _served_inputs()
        else:
            _precision_picker()
        _pinned_note()
        slot = st.empty()
        pending = loading_model() and chosen_model_name() == DEFAULT_MODEL
        if pending:
            slot.caption("Loading the bundled model; it is ready in a few seconds.")
        else:
            _show_model(slot)
        running_now("sidebar")
        st.subheader("Saved runs")
        repo, store_error = open_store()
        if store_error:
            show_error(store_error)
        elif repo is not None:
            st.caption(f"Runs are saved in `{describe_url(repo.url)}`.")
        st.subheader("What is this?")
        st.caption(ABOUT)
    return (lambda: _show_model(slot)) if pending else (lambda: None)


def _model_picker() -> None:
    """The model radio; a choice this server does not offer (an old session's) is refused with a sentence."""
    options = model_options()
    state = st.session_state
    hold(MODEL_CHOICE_KEY, BUNDLED_CHOICE)
    if state[MODEL_CHOICE_KEY] not in options:
        state[REFUSED_KEY] = model_choice()[1] or not_offered(str(state[MODEL_CHOICE_KEY]))
        state[MODEL_CHOICE_KEY] = BUNDLED_CHOICE
    _, problem = offered_models()
    if problem:
        show_error(problem)
    st.radio(
        "Model",
        options,
        key=MODEL_CHOICE_KEY,
        on_change=unpin_model,
        label_visibility="collapsed",
        help=f"The models this server offers. Its administrator adds others with {MODELS_ENV}; "
        f"{ANY_MODEL_ENV}=1 (for a personal machine) lets any folder or hub id be typed here.",
    )
    if state.get(REFUSED_KEY):
        show_error(state.pop(REFUSED_KEY) + " The bundled model is used instead.")


def _precision_label(choice: str) -> str:
    """A precision in words; the automatic one says what it is on this machine (short: the sidebar is narrow)."""
    if choice == MACHINE_DEFAULT:
        return (
            "Automatic: bfloat16 on this GPU"
            if default_device().type == "cuda"
            else "Automatic: float32 on this CPU"
        )
    return PRECISION_LABELS.get(choice, str(choice))


def _precision_picker() -> None:
    """The precision the model is loaded in: this machine's default, or one the user picks."""
    if st.session_state.get(PRECISION_KEY) not in PRECISION_LABELS:
        st.session_state[PRECISION_KEY] = MACHINE_DEFAULT
    st.selectbox(
        "Precision",
        list(PRECISION_LABELS),
        key=PRECISION_KEY,
        on_change=unpin_model,
        format_func=_precision_label,
        help="Automatic is float32 on a CPU and bfloat16 on a GPU. Lower precision halves the model's memory and is faster on a GPU; its numbers differ slightly "
        "from float32 (the result says which precision it used).",
    )


def _served_inputs() -> None:
    """A served model typed in: the name its server knows, the server's address, and where its tokenizer is."""
    for key in (SERVED_NAME_KEY, ENDPOINT_KEY, TOKENIZER_KEY):
        hold(key, "")
    st.text_input(
        "Model name on the server",
        key=SERVED_NAME_KEY,
        placeholder="e.g. meta-llama/Llama-3.1-70B-Instruct",
        help="The model name the server answers to (vLLM: the id it was started with).",
        on_change=unpin_model,
    )
    st.text_input(
        "Server address",
        key=ENDPOINT_KEY,
        placeholder="e.g. http://gpu-box:8000/v1",
        help="An OpenAI-compatible completions endpoint with echo and log-probabilities (vLLM, SGLang, "
        "`python -m core.serve_model`). Perturbation methods and probes run through it; gradients need local "
        "weights. WhyLM checks the server's log-probabilities before it first uses it.",
        on_change=unpin_model,
    )
    st.text_input(
        "Tokenizer (optional)",
        key=TOKENIZER_KEY,
        placeholder="hub id or folder; empty: the model name",
        help="Where WhyLM loads the tokenizer from, so that the token ids it sends are the server's; "
        "leave it empty when the model name is a hub id or folder.",
        on_change=unpin_model,
    )


def _pinned_note() -> None:
    """Say when a saved run's model (at its recorded revision) is used instead of the sidebar's choice."""
    pinned = pinned_model()
    if pinned is None:
        return
    at = f" at revision {pinned.revision}" if pinned.revision else ""
    st.caption(
        f"Running again on the saved run's model, {escape_markdown(pinned.name)}{escape_markdown(at)}."
    )
    st.button("Use the model picked above", key="whylm_unpin", on_click=unpin_model)


def _show_model(slot: Any) -> None:
    """Fill the sidebar's model line: name, size, device and context, or why it cannot load."""
    lm, error = current_model()
    with slot.container():
        if error:
            show_error(error)
        elif lm is not None:
            where = (
                "served by its own server (perturbation methods and probes; gradients need local weights)"
                if getattr(lm, "endpoint", None)
                else f"{lm.n_parameters / 1e6:,.0f} million parameters · runs on {lm.device.type.upper()}"
            )
            st.caption(
                f"**{escape_markdown(lm.display_name)}**  \n{where} · context {lm.max_context:,} tokens"
            )
