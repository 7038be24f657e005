"""Saved runs' comparison of runs of a kind with a compare rule of its own (bias runs by candidate,
few-shot runs by example, and any kind registered with ``RunKind.compare``).

:func:`show_probe_comparison` draws the kind's comparison section (``core.present.probe_compare``)
when the picked runs are all of one such kind, or says why runs of different kinds cannot be
compared; it returns whether it drew anything, so the attribution comparison is drawn otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.errors import WhyLMError
from core.present.compare import ComparedRun
from core.present.probe_compare import kind_compare, kinds_sentence, probe_kind, result_kind
from ui.shared.markdown import escape_markdown
from ui.shared.section_view import show_section


def show_probe_comparison(runs: Sequence[ComparedRun]) -> bool:
    """Draw the comparison of runs of one kind by its rule (or why they cannot be compared); False otherwise."""
    kind = probe_kind(runs)
    if kind is None:
        kinds = {result_kind(run.result) for run in runs}
        if any(k is not None and kind_compare(k) is not None for k in kinds):
            st.warning(escape_markdown(kinds_sentence(runs) or "These runs cannot be compared."))
            return True
        return False
    compare = kind_compare(kind)
    try:
        part = compare(runs)  # type: ignore[misc] - probe_kind names only kinds with a rule
    except WhyLMError as exc:
        st.warning(escape_markdown(str(exc)))
        return True
    show_section(part, key=f"sr_compare_{kind}")
    return True
