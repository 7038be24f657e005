"""The run store a session saves to and reads from (opened once per database URL)."""

from __future__ import annotations

import streamlit as st

from core.errors import WhyLMError
from core.store import RunRepository, database_url
from core.text import first_line


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
