"""Pieces that several dashboard pages draw or compute the same way.

The preset choosers (worked examples on the attribution pages, ready-made
probes on the bias and few-shot pages) and the atomic loading of a preset into
a form, the table / paste / upload inputs of the probe pages, the result
download buttons, and the check that turns a spec parser's complaint into the
sentence a page shows.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
import streamlit as st

from core.attribution.presets import preset, presets_for
from core.errors import WhyLMError
from core.kinds import parse
from ui.shared.errors import show_error
from ui.shared.markdown import escape_markdown

LIST_TABS = ["Edit the table", "Paste text", "Upload a CSV"]


# ---------------------------------------------------------------- pure helpers


def cell_text(value: Any) -> str:
    """A table cell as stripped text; a missing or empty (NaN) cell is ""."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).strip()


def clean_rows(rows: Iterable[dict[str, Any]], columns: list[str]) -> list[dict[str, str]]:
    """The rows with exactly ``columns``, every cell as :func:`cell_text`."""
    return [{c: cell_text(r.get(c)) for c in columns} for r in rows]


def spreadsheet_csv(text: str, *, commas_mean_csv: bool) -> str:
    """Pasted or uploaded text as CSV: a tab in the first filled line marks spreadsheet text, whose tabs become commas.

    With ``commas_mean_csv`` a first line that also holds a comma is taken as CSV already.
    """
    text = text.lstrip("\ufeff")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "\t" not in first or (commas_mean_csv and "," in first):
        return text
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text), delimiter="\t"):
        writer.writerow(row)
    return out.getvalue()


def spec_problem(spec: dict[str, Any], sentence: Callable[[BaseException], str]) -> str | None:
    """The sentence for why the spec's kind rejects ``spec`` (written by ``sentence``), or None when it runs.

    The spec is parsed once per content (``core.kinds.parse``): the time estimate, this check
    and the run share one parse.
    """
    try:
        parse(spec)
    except WhyLMError as exc:
        return sentence(exc)
    return None


# ---------------------------------------------------------------- loading a preset into a form, atomically
#
# A Load button's callback sets every widget of the form at once, before the
# script draws anything. But a browser that has not yet redrawn the form (the
# rerun that shows the loaded values is still running or still on its way, as
# under load) sends its old widget values with its next click, Run included,
# and Streamlit lets those win over values set earlier: the form would read
# partly old, partly loaded. So the loaded values stay staged and are written
# again at the top of every script run until a run has drawn the whole form
# and its Run button with them; Run reads either the old form or all of the loaded one.


def time_estimate(spec: dict[str, Any] | None) -> None:
    """Before Run: how long the run will take on this machine (``core.runs.estimate.estimate``), in a caption."""
    from core.runs.estimate import estimate

    guess = estimate(spec) if spec is not None else None
    if guess is not None:
        st.caption(guess.words())


def staged_key(prefix: str) -> str:
    """Session-state key of a form's staged values."""
    return f"{prefix}_staged"


def stage_form(prefix: str, values: dict[str, Any]) -> None:
    """Load values into a form as one change: set them all now and keep them staged until the form is drawn."""
    st.session_state[staged_key(prefix)] = copy.deepcopy(values)
    apply_staged_form(prefix)


def stage_more(prefix: str, values: dict[str, Any]) -> None:
    """Add values to what a form has staged (a saved run's tags beside its spec), set now like the rest."""
    staged = st.session_state.get(staged_key(prefix)) or {}
    st.session_state[staged_key(prefix)] = {**staged, **copy.deepcopy(values)}
    apply_staged_form(prefix)


def apply_staged_form(prefix: str) -> None:
    """Before a form's first widget: write its staged values (again), over any a stale page sent."""
    for key, value in (st.session_state.get(staged_key(prefix)) or {}).items():
        st.session_state[key] = copy.deepcopy(value)


def form_drawn(prefix: str) -> None:
    """After the whole form and its Run button were drawn with the staged values: stop writing them."""
    st.session_state.pop(staged_key(prefix), None)


# ---------------------------------------------------------------- preset choosers


def preset_picker(
    prefix: str,
    label: str,
    options: list[str],
    title: Callable[[str], str],
    on_load: Callable[[], None],
    button: str,
) -> None:
    """A preset select box (key ``{prefix}_preset``) with the button that loads it (key ``{prefix}_load``).

    Drawn first in its form: a preset loaded earlier and still staged is written again here (see ``stage_form``).
    """
    apply_staged_form(prefix)
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")  # [4, 1] cut "Load example" at 1000 px
    c1.selectbox(label, options, format_func=title, key=f"{prefix}_preset")
    c2.button(button, on_click=on_load, key=f"{prefix}_load", width="stretch")


def worked_example_picker(
    prefix: str, page: str, on_load: Callable[[], None], load_first: bool = True
) -> None:
    """The chooser of an attribution page's worked examples (``presets_for(page)``).

    A first visit finds the first example loaded, ready to run as it is (unless
    ``load_first`` is False: the form was just filled from a link).
    """
    examples = presets_for(page)
    if f"{prefix}_preset" not in st.session_state:
        st.session_state[f"{prefix}_preset"] = examples[0].id
        if load_first:
            on_load()
    preset_picker(
        prefix,
        "Worked examples",
        [p.id for p in examples],
        lambda pid: preset(pid).title,
        on_load,
        "Load example",
    )


def probe_preset_picker(
    prefix: str, label: str, presets: dict[str, dict[str, Any]], on_load: Callable[[], None]
) -> None:
    """The chooser of a probe page's ready-made specs, each shown by its title."""
    preset_picker(
        prefix, label, list(presets), lambda name: presets[name].get("title", name), on_load, "Load"
    )


# ---------------------------------------------------------------- table, paste and upload inputs


def table_editor(
    rows: list[dict[str, Any]], columns: list[str], key: str, column_config: dict[str, Any]
) -> list[dict[str, str]]:
    """Draw the rows in a data editor where rows can be added and removed; return its rows, cleaned."""
    frame = pd.DataFrame(clean_rows(rows, columns), columns=columns)
    edited = st.data_editor(
        frame,
        key=key,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config=column_config,
    )
    return clean_rows(edited.to_dict("records"), columns)


def paste_box(
    label: str,
    key: str,
    placeholder: str,
    button: str,
    on_paste: Callable[..., None],
    args: tuple[Any, ...] | None = None,
) -> None:
    """A text box to paste a list into (key ``key``) and the button that uses it (key ``{key}_apply``)."""
    st.text_area(label, key=key, height=140, placeholder=placeholder)
    st.button(button, key=f"{key}_apply", on_click=on_paste, args=args)


def csv_uploader(
    label: str, key: str, on_upload: Callable[..., None], args: tuple[Any, ...] | None = None
) -> None:
    """A CSV (or text) file upload that calls ``on_upload`` when a file is chosen."""
    st.file_uploader(label, type=["csv", "txt"], key=key, on_change=on_upload, args=args)


def uploaded_text(upload_key: str, error_key: str, field: str) -> tuple[str, str] | None:
    """The uploaded file's text and the words naming it ("file x.csv"), or None.

    None when no file is chosen, or when the file is not UTF-8: then the
    sentence saying so (starting with ``field``) is stored under ``error_key``.
    """
    upload = st.session_state.get(upload_key)
    if upload is None:
        return None
    try:
        text = upload.getvalue().decode("utf-8-sig")
    except UnicodeDecodeError:
        st.session_state[error_key] = f"{field}: the file is not UTF-8 text; save it as a UTF-8 CSV."
        return None
    return text, f"file {upload.name}"


def list_message(error_key: str, note_key: str) -> None:
    """Below a table: why the last paste or upload failed, or what it loaded."""
    state = st.session_state
    if state.get(error_key):
        show_error(state[error_key])
    elif state.get(note_key):
        st.caption(escape_markdown(state[note_key]))


# ---------------------------------------------------------------- downloads


def download(column: Any, label: str, data: Any, file_name: str, mime: str, key: str) -> None:
    """A download button in ``column`` that does not rerun the page when pressed."""
    column.download_button(label, data=data, file_name=file_name, mime=mime, key=key, on_click="ignore")


def json_download(column: Any, result: dict[str, Any], file_name: str, key: str) -> None:
    """The "Result (JSON)" download of a result view whose widget keys start with ``key``."""
    download(
        column,
        "Result (JSON)",
        json.dumps(result, indent=2, ensure_ascii=False),
        file_name,
        "application/json",
        f"{key}_dl_json",
    )


def csv_download(column: Any, label: str, data: str, file_name: str, key: str) -> None:
    """A table as a CSV download; its widget key is ``{key}_dl_csv``."""
    download(column, label, data, file_name, "text/csv", f"{key}_dl_csv")


def json_and_csv_downloads(
    result: dict[str, Any], key: str, json_file: str, csv_label: str, csv_data: str, csv_file: str
) -> None:
    """Side by side: the whole result as JSON and its main table as CSV."""
    c1, c2 = st.columns(2)
    json_download(c1, result, json_file, key)
    csv_download(c2, csv_label, csv_data, csv_file, key)
