"""Errors as sentences on a page: a SpecError's field named in words, never a traceback."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import SpecError, WhyLMError
from core.text import first_line
from ui.shared.markdown import literal_markdown


def show_error(message: Any) -> None:
    """An error box showing ``message`` literally (it may hold user text, paths or model output)."""
    st.error(literal_markdown(message))


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


def error_sentence(exc: BaseException, names: dict[str, str] | None = None, number_rows: bool = False) -> str:
    """The sentence to show for an error: a SpecError's field named in words, never a traceback.

    ``names`` maps a page's own spec fields to its form sections (looked up
    before the common names); with ``number_rows`` a field such as
    ``examples.2.label`` reads "Examples, row 3".
    """

    if isinstance(exc, SpecError) and exc.field:
        message = exc.sentence
        parts = exc.field.split(".")
        own = (names or {}).get(parts[0])
        if own:
            if number_rows and len(parts) > 1 and parts[1].isdigit():
                own += f", row {int(parts[1]) + 1}"
            return f"{own}: {message}"
        name = FIELD_NAMES.get(parts[0], exc.field)
        return f"{name}: {message}"
    if isinstance(exc, WhyLMError):
        return str(exc)
    return f"Something went wrong ({type(exc).__name__}: {first_line(exc)}); check the inputs and try again."
