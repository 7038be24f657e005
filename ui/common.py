"""Shared dashboard pieces: the sidebar, the model cache, the run store, small text helpers.

Every page calls :func:`render_sidebar` (app.py does it once per run) and
gets the chosen model with :func:`current_model`; saving goes through
:func:`open_store`. Errors are shown as sentences, never tracebacks, through
:func:`show_error`, which shows any text literally (no markdown, no emoji codes).

The sidebar offers the models of ``core.models.catalog.offered_models`` (the
bundled one and ``WHYLM_MODELS``) by name; only with ``WHYLM_ANY_MODEL=1`` does it
also take any folder or hub id typed into it, or a served model's name and server
address (with its tokenizer's id or folder when the server's name is not one). A
name that is not offered is refused with a sentence before anything on the server
is looked at.

A saved run's "Run again" (and "Open in its page") pins the run's own model, at
the hub revision it recorded (:func:`pin_model`), until a model is picked in the
sidebar.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.errors import SpecError, WhyLMError
from core.models.catalog import (
    ANY_MODEL_ENV,
    BUNDLED_LABEL,
    MODELS_ENV,
    ModelChoice,
    allowed_request,
    any_model_allowed,
    offered_models,
)
from core.models.loading import DEFAULT_MODEL, LoadedModel, default_device, load_model
from core.models.request import DTYPES, ModelRequest, parse_model, rerun_request
from core.store import RunRepository, database_url
from core.store.database import describe_url
from core.text import first_line, plain_text
from ui.warm_up import loading_model

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

ABOUT = (
    "WhyLM shows **why a language model wrote what it wrote**: it changes parts of your prompt "
    "and measures how the probability of the output moves. Blue parts pushed the model toward "
    "the output, red parts against it. Every run is saved so it can be reviewed later."
)


@st.cache_resource(show_spinner="Loading the model (the first time can take about 20 seconds)…")
def cached_model(model: str | dict[str, str]) -> LoadedModel:
    """Load a model once per server process (keyed by the spec's model value); all tabs share it under ``lm.lock``."""
    return load_model(model)


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
        return parse_model({"name": name, "endpoint": endpoint, **({"tokenizer": tokenizer} if tokenizer else {})}), None
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
            return "", "Type a Hugging Face model id or a model folder in the sidebar, or pick the bundled model."
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
            st.session_state.setdefault(MODEL_NAME_KEY, "")
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
    state.setdefault(MODEL_CHOICE_KEY, BUNDLED_CHOICE)
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
        return "Automatic: bfloat16 on this GPU" if default_device().type == "cuda" else "Automatic: float32 on this CPU"
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
        st.session_state.setdefault(key, "")
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
    st.caption(f"Running again on the saved run's model, {escape_markdown(pinned.name)}{escape_markdown(at)}.")
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


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
# A colon that could open an emoji or icon code (":x:", ":-1:", ":material/home:"). Streamlit replaces those
# codes after markdown escapes are read, so a backslash does not stop them; an invisible word joiner does.
_SHORTCODE = re.compile(r":(?=\S)")
WORD_JOINER = "\u2060"


def escape_markdown(text: Any) -> str:
    """Text made safe for st.markdown: markdown and HTML characters, emoji and icon codes shown literally.

    Terminal colour codes are dropped; a colon not followed by a space gets an
    invisible word joiner after it (":x:" stays ":x:" on the page, not an emoji).
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", plain_text(str(text)))
    return _SHORTCODE.sub(":" + WORD_JOINER, escaped)


_LITERAL_ALWAYS = re.compile(r"([\\`*\[\]<>~$|&])")
_LITERAL_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # "max_exact" stays; "_x_" would be italic
_LITERAL_LINE_START = re.compile(r"(?m)^(\s*)([#>+=-]|\d+[.)])")


def literal_markdown(text: Any) -> str:
    """Text for st.markdown that reads exactly as written, with as few escapes as that needs.

    Lighter than :func:`escape_markdown` (plain punctuation stays as it is, so a
    sentence in an error box keeps its words): it escapes what formats anywhere in
    a line, underscores that could start emphasis, block markers at a line's start,
    emoji and icon codes, and drops terminal colour codes.
    """
    out = _LITERAL_ALWAYS.sub(r"\\\1", plain_text(str(text)))
    out = _LITERAL_UNDERSCORE.sub(r"\\_", out)
    out = _LITERAL_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), out)
    return _SHORTCODE.sub(":" + WORD_JOINER, out)


def show_error(message: Any) -> None:
    """An error box showing ``message`` literally (it may hold user text, paths or model output)."""
    st.error(literal_markdown(message))



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
