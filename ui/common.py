"""Shared dashboard pieces: the sidebar, the model cache, the run store, small text helpers.

Every page calls :func:`render_sidebar` (app.py does it once per run) and
gets the chosen model with :func:`current_model`; saving goes through
:func:`open_store`. Errors are shown as sentences, never tracebacks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.errors import WhyLMError
from core.models.loading import DEFAULT_MODEL, LoadedModel, load_model
from core.store import RunRepository, database_url
from core.store.database import describe_url
from core.text import first_line
from ui.warm_up import loading_model

MODEL_CHOICE_KEY = "whylm_model_choice"
MODEL_NAME_KEY = "whylm_model_name"
BUNDLED_CHOICE = "Bundled SmolLM2-135M-Instruct"
OTHER_CHOICE = "Another model (Hugging Face id or folder)"

ABOUT = (
    "WhyLM shows **why a language model wrote what it wrote**: it changes parts of your prompt "
    "and measures how the probability of the output moves. Blue parts pushed the model toward "
    "the output, red parts against it. Every run is saved so it can be reviewed later."
)


@st.cache_resource(show_spinner="Loading the model (the first time can take about 20 seconds)…")
def cached_model(name: str) -> LoadedModel:
    """Load a model once per server process (keyed by name); all tabs share it under ``lm.lock``."""
    return load_model(name)


@st.cache_resource(show_spinner=False)
def _cached_repository(url: str) -> RunRepository:
    return RunRepository(url)


def open_store() -> tuple[RunRepository | None, str | None]:
    """The run store, or (None, a sentence saying why it cannot open). Opened once per process."""
    try:
        return _cached_repository(database_url()), None
    except WhyLMError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - shown as a sentence, not a traceback
        return None, f"The run database could not be opened ({first_line(exc)}); runs will not be saved."


def chosen_model_name() -> str:
    """The model name picked in the sidebar ("default" for the bundled model)."""
    if st.session_state.get(MODEL_CHOICE_KEY, BUNDLED_CHOICE) == OTHER_CHOICE:
        return (st.session_state.get(MODEL_NAME_KEY) or "").strip()
    return DEFAULT_MODEL


def current_model() -> tuple[LoadedModel | None, str | None]:
    """The loaded sidebar model, or (None, a sentence saying what to fix)."""
    name = chosen_model_name()
    if not name:
        return None, "Type a Hugging Face model id or a model folder in the sidebar, or pick the bundled model."
    try:
        return cached_model(name), None
    except WhyLMError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001
        return None, f"The model '{name}' could not be loaded ({first_line(exc)}); pick another model."


def render_sidebar() -> Callable[[], None]:
    """The sidebar: model picker (with device and size), database location, and what WhyLM is.

    Returns a function to call once the page has drawn: at start-up, while the
    warm-up thread is still loading the bundled model, the sidebar says so
    instead of holding the page up, and that function fills in the model's
    line when it is ready. Otherwise the function does nothing.
    """
    with st.sidebar:
        st.subheader("Model")
        st.session_state.setdefault(MODEL_CHOICE_KEY, BUNDLED_CHOICE)
        st.radio("Model", [BUNDLED_CHOICE, OTHER_CHOICE], key=MODEL_CHOICE_KEY, label_visibility="collapsed")
        if st.session_state[MODEL_CHOICE_KEY] == OTHER_CHOICE:
            st.session_state.setdefault(MODEL_NAME_KEY, "")
            st.text_input(
                "Hugging Face model id or local folder",
                key=MODEL_NAME_KEY,
                placeholder="e.g. HuggingFaceTB/SmolLM2-360M-Instruct or /models/my-llm",
                help="Any causal (text-generating) language model; press Enter to load it.",
            )
        slot = st.empty()
        pending = loading_model() and chosen_model_name() == DEFAULT_MODEL
        if pending:
            slot.caption("Loading the bundled model; it is ready in a few seconds.")
        else:
            _show_model(slot)
        st.subheader("Saved runs")
        repo, store_error = open_store()
        if store_error:
            st.error(store_error)
        elif repo is not None:
            st.caption(f"Runs are saved in `{describe_url(repo.url)}`.")
        st.subheader("What is this?")
        st.caption(ABOUT)
    return (lambda: _show_model(slot)) if pending else (lambda: None)


def _show_model(slot: Any) -> None:
    """Fill the sidebar's model line: name, size, device and context, or why it cannot load."""
    lm, error = current_model()
    with slot.container():
        if error:
            st.error(error)
        elif lm is not None:
            st.caption(
                f"**{escape_markdown(lm.display_name)}**  \n"
                f"{lm.n_parameters / 1e6:,.0f} million parameters · runs on {lm.device.type.upper()} · "
                f"context {lm.max_context:,} tokens"
            )


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: Any) -> str:
    """Text made safe for st.markdown: markdown and HTML characters shown literally."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))



def data_dir_note() -> str:
    """Where runs are stored, in words (for captions)."""
    if os.environ.get("WHYLM_DATABASE_URL"):
        return "the database named by WHYLM_DATABASE_URL"
    return describe_url(database_url())


FIELD_NAMES = {
    "prompt": "Prompt",
    "target": "Output to explain",
    "method": "Method settings",
    "trials": "Trials",
    "seed": "Seed",
    "chat": "Chat mode",
    "model": "Model",
    "score": "Score",
    "kind": "Run kind",
}


def error_sentence(
    exc: BaseException, names: dict[str, str] | None = None, number_rows: bool = False
) -> str:
    """The sentence to show for an error: a SpecError's field named in words, never a traceback.

    ``names`` maps a page's own spec fields to its form sections (looked up
    before the common names); with ``number_rows`` a field such as
    ``examples.2.label`` reads "Examples, row 3".
    """
    from core.errors import SpecError

    text = str(exc)
    if isinstance(exc, SpecError) and exc.field:
        prefix = f"{exc.field}: "
        message = text[len(prefix):] if text.startswith(prefix) else text
        parts = exc.field.split(".")
        own = (names or {}).get(parts[0])
        if own:
            if number_rows and len(parts) > 1 and parts[1].isdigit():
                own += f", row {int(parts[1]) + 1}"
            return f"{own}: {message}"
        name = FIELD_NAMES.get(parts[0], exc.field)
        return f"{name}: {message}"
    if isinstance(exc, WhyLMError):
        return text
    return f"Something went wrong ({type(exc).__name__}: {first_line(exc)}); check the inputs and try again."
