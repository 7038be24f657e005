"""The model a session runs on: the sidebar's choice (offered models, a served model, precision), a saved
run's pinned model, and the loaded model (cached once per process).

The sidebar offers the models of ``core.models.catalog.offered_models`` (the bundled one and
``WHYLM_MODELS``) by name; only with ``WHYLM_ANY_MODEL=1`` does it also take any folder or hub id
typed into it, or a served model's name and server address (with its tokenizer's id or folder when
the server's name is not one). A name that is not offered is refused with a sentence before anything
on the server is looked at. A saved run's "Run again" (and "Open in its page") pins the run's own
model, at the hub revision it recorded (:func:`pin_model`), until a model is picked in the sidebar.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import SpecError, WhyLMError
from core.models.catalog import (
    BUNDLED_LABEL,
    MODELS_ENV,
    ModelChoice,
    allowed_request,
    any_model_allowed,
    offered_models,
)
from core.models.loading import DEFAULT_MODEL, LoadedModel, load_model
from core.models.request import DTYPES, ModelRequest, parse_model, rerun_request
from core.text import first_line
from ui.shared.errors import error_sentence

MODEL_CHOICE_KEY = "whylm_model_choice"


MODEL_NAME_KEY = "whylm_model_name"


PRECISION_KEY = "whylm_model_dtype"


MACHINE_DEFAULT = "machine"  # a value Streamlit can select (None would read as "nothing chosen")


PRECISION_LABELS = {
    MACHINE_DEFAULT: "Automatic",  # drawn with this machine's choice (see _precision_label)
    "float32": "float32 (full precision)",
    "bfloat16": "bfloat16 (half the memory)",
    "float16": "float16 (half the memory)",
}


REFUSED_KEY = "whylm_model_refused"


BUNDLED_CHOICE = BUNDLED_LABEL


OTHER_CHOICE = "Another model (Hugging Face id or folder)"


SERVED_CHOICE = "A served model (OpenAI-compatible server)"


SERVED_NAME_KEY = "whylm_served_name"


ENDPOINT_KEY = "whylm_served_endpoint"


TOKENIZER_KEY = "whylm_served_tokenizer"


PINNED_KEY = "whylm_model_pinned"  # a saved run's model object, pinned by "Run again" (None: the sidebar's)


@st.cache_resource(show_spinner="Loading the model (the first time can take about 20 seconds)…")
def cached_model(model: str | dict[str, str]) -> LoadedModel:
    """Load a model once per server process (keyed by the spec's model value); all tabs share it under ``lm.lock``."""
    return load_model(model)


def model_options() -> list[str]:
    """The sidebar's model choices: the offered models by name, and "Another model" when any may load."""
    labels = [m.label for m in offered_models()[0]]
    return labels + ([OTHER_CHOICE, SERVED_CHOICE] if any_model_allowed() else [])


def not_offered(name: str) -> str:
    """The sentence refusing a model this server does not offer (it names no path and checks none)."""
    offered = ", ".join(m.label for m in offered_models()[0])
    return (
        f"'{name}' is not one of the models this server offers ({offered}); pick one in the sidebar. "
        f"The server's administrator can add models with {MODELS_ENV}."
    )


def _offered(choice: str) -> ModelChoice | None:
    return next((m for m in offered_models()[0] if m.label == choice), None)


def typed_served_model() -> tuple[ModelRequest | None, str | None]:
    """The served model typed in the sidebar (name, server address, tokenizer), or (None, a sentence why not)."""
    state = st.session_state
    name = (state.get(SERVED_NAME_KEY) or "").strip()
    endpoint = (state.get(ENDPOINT_KEY) or "").strip()
    tokenizer = (state.get(TOKENIZER_KEY) or "").strip()
    if not name or not endpoint:
        return None, (
            "Type the served model's name and its server's address (e.g. http://127.0.0.1:8000/v1) in the "
            "sidebar, or pick another model."
        )
    try:
        return parse_model(
            {"name": name, "endpoint": endpoint, **({"tokenizer": tokenizer} if tokenizer else {})}
        ), None
    except SpecError as exc:
        return None, error_sentence(exc)


def _pin_allowed(request: ModelRequest) -> bool:
    """Whether this server may load a pinned model as it is (``core.models.catalog.allowed_request``)."""
    allowed, _ = allowed_request(request)
    return allowed == request


def pin_model(model: Any, recorded_revision: Any = None) -> str | None:
    """Run on a saved run's model (its spec's ``model``, at the hub revision it recorded) until the sidebar changes.

    Returns None when pinned as saved, else a sentence: the offered revision is pinned
    instead of the saved one, or the sidebar's model is used (a model this server does
    not offer, or a wrong model object).
    """
    st.session_state.pop(PINNED_KEY, None)
    try:
        request = rerun_request(model, recorded_revision)
    except SpecError as exc:
        return f"The saved run's model cannot be read ({error_sentence(exc)}); the sidebar's model is used."
    allowed, why = allowed_request(request)
    if allowed is None:
        return f"{why} The sidebar's model is used."
    st.session_state[PINNED_KEY] = allowed.document()
    return why


def unpin_model() -> None:
    """Back to the sidebar's model (a model was picked there, or the form was filled with something else)."""
    st.session_state.pop(PINNED_KEY, None)


def pinned_model() -> ModelRequest | None:
    """The saved run's model that "Run again" pinned, or None."""
    value = st.session_state.get(PINNED_KEY)
    if value is None:
        return None
    try:
        request = parse_model(value)
    except SpecError:
        return None
    return request if _pin_allowed(request) else None


def model_choice() -> tuple[str, str | None]:
    """The model the sidebar picked, as (name for ``load_model``, None), or ("", a sentence why not)."""
    pinned = pinned_model()
    if pinned is not None:
        return pinned.name, None
    choice = st.session_state.get(MODEL_CHOICE_KEY, BUNDLED_CHOICE)
    if choice == SERVED_CHOICE and any_model_allowed():
        request, problem = typed_served_model()
        return (request.name, None) if request is not None else ("", problem)
    if choice == OTHER_CHOICE and any_model_allowed():
        name = (st.session_state.get(MODEL_NAME_KEY) or "").strip()
        if not name:
            return (
                "",
                "Type a Hugging Face model id or a model folder in the sidebar, or pick the bundled model.",
            )
        return name, None
    offered = _offered(str(choice))
    if offered is None:
        typed = st.session_state.get(MODEL_NAME_KEY) if choice == OTHER_CHOICE else choice
        return "", not_offered(str(typed or choice).strip())
    return offered.source, None


def chosen_model_name() -> str:
    """The model name picked in the sidebar ("default" for the bundled model; "" when it is refused)."""
    return model_choice()[0]


def chosen_model() -> str | dict[str, str]:
    """The spec's ``model`` value for the sidebar's choice: its name, with the precision when one is picked.

    A served model (an offered entry with a server address, or one typed in) is asked of its server; precision
    is the server's. A saved run's model pinned by "Run again" comes first (:func:`pin_model`).
    """
    pinned = pinned_model()
    if pinned is not None:
        return pinned.document()
    if st.session_state.get(MODEL_CHOICE_KEY) == SERVED_CHOICE and any_model_allowed():
        request, _ = typed_served_model()
        if request is not None:
            return request.document()
    offered = _offered(str(st.session_state.get(MODEL_CHOICE_KEY, BUNDLED_CHOICE)))
    if offered is not None and offered.endpoint:
        return offered.document()
    dtype = st.session_state.get(PRECISION_KEY)
    request = ModelRequest(chosen_model_name() or DEFAULT_MODEL, dtype=dtype if dtype in DTYPES else None)
    return request.document()


def current_model() -> tuple[LoadedModel | None, str | None]:
    """The loaded sidebar model, or (None, a sentence saying what to fix)."""
    name, refused = model_choice()
    if refused:
        return None, refused
    try:
        return cached_model(chosen_model()), None
    except WhyLMError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001
        return None, f"The model '{name}' could not be loaded ({first_line(exc)}); pick another model."
