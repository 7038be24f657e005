"""The Few-shot prompts form: the task, the examples, the test queries and the settings -> a few-shot spec.

The form builds a few-shot spec (see ``core.probes.few_shot.spec``): the
instruction, how an example and a query are written, the label set, the
examples and the test queries (each edited in a table, pasted, or uploaded as
a CSV with the columns input,label), and the settings (``ui.few_shot.settings``).
:func:`few_shot_form` draws it all and returns the spec with the check that Run calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.errors import SpecError, WhyLMError
from core.kinds import parse
from core.probes.few_shot.spec import few_shot_presets
from core.text import counted
from ui.few_shot.convert import (
    COLUMNS,
    NOUNS,
    TABLES,
    labels_from_text,
    pairs_from_list_text,
    pairs_from_rows,
    text_from_labels,
)
from ui.few_shot.settings import method_note, settings_form, settings_state
from ui.shared.errors import error_sentence
from ui.shared.links import forget_run_link, restore_from_url
from ui.shared.markdown import escape_markdown
from ui.shared.model import chosen_model
from ui.shared.page_parts import (
    LIST_TABS,
    clean_rows,
    csv_uploader,
    list_message,
    paste_box,
    probe_preset_picker,
    spec_problem,
    stage_form,
    table_editor,
    uploaded_text,
)
from ui.shared.spec_form import example_state

PREFIX = "fs"
JOB_KEY = "fs_job"
RESULT_KEY = "fs_result"
FIELDS = {
    "instruction": "Instruction",
    "example_format": "Example format",
    "query_format": "Query format",
    "labels": "Labels",
    "examples": "Examples",
    "queries": "Queries",
    "chat": "Chat mode",
    "include_instruction_as_feature": "Instruction as a feature",
    "method": "Method",
    "max_exact": "Exact up to",
    "n_samples": "Samples",
    "order_trials": "Order trials",
    "seed": "Seed",
    "model": "Model",
    "label_prefix": "Label prefix",
}


def k(name: str) -> str:
    """Session-state key of one of this page's widgets."""
    return f"{PREFIX}_{name}"


def few_shot_error_sentence(exc: BaseException) -> str:
    """A few-shot SpecError as a sentence naming the form field ("Examples, row 3: 'x' is not ...")."""
    return error_sentence(exc, FIELDS, number_rows=True)


# ---------------------------------------------------------------- state changes (callbacks)


def rows_state(which: str, rows: list[dict[str, str]]) -> dict[str, Any]:
    """Session-state values that replace a table's contents (``which`` is "ex" or "q"); it is redrawn fresh."""
    base = clean_rows(rows, COLUMNS)
    return {
        k(f"{which}_base"): base,
        k(f"{which}_now"): [dict(r) for r in base],
        k(f"{which}_version"): st.session_state.get(k(f"{which}_version"), 0) + 1,
    }


def set_rows(which: str, rows: list[dict[str, str]]) -> None:
    """Replace a table's contents (``which`` is "ex" or "q"); it is redrawn fresh."""
    st.session_state.update(rows_state(which, rows))


def table_key(which: str) -> str:
    """The current widget key of a table's data editor (it changes when the table is replaced)."""
    return k(f"{which}_table_{st.session_state.get(k(f'{which}_version'), 0)}")


def load_preset_state(spec: dict[str, Any], title: str | None = None) -> None:
    """Fill the whole form from a few-shot spec (a preset or a stored run's spec), as one change (``stage_form``)."""
    state: dict[str, Any] = {
        k("instruction"): spec.get("instruction", "") or "",
        k("example_format"): spec.get("example_format", ""),
        k("query_format"): spec.get("query_format", ""),
        k("labels"): text_from_labels(list(spec.get("labels") or [])),
        **rows_state("ex", list(spec.get("examples") or [])),
        **rows_state("q", list(spec.get("queries") or [])),
        **settings_state(PREFIX, spec),
        **example_state(PREFIX, spec.get("title", "") if title is None else title, spec),
    }
    for which in TABLES:
        state[k(f"{which}_error")] = None
        state[k(f"{which}_note")] = None
    stage_form(PREFIX, state)


def load_preset() -> None:
    """Button callback: load the chosen preset into the form."""
    load_preset_state(few_shot_presets()[st.session_state[k("preset")]])
    forget_run_link()


def _apply_list_text(which: str, text: str, source: str) -> None:
    state = st.session_state
    try:
        rows = pairs_from_list_text(text, which)
    except SpecError as exc:
        state[k(f"{which}_error")] = few_shot_error_sentence(exc)
        state[k(f"{which}_note")] = None
        return
    set_rows(which, rows)
    state.pop(k(f"{which}_error"), None)
    state[k(f"{which}_note")] = f"Loaded {counted(len(rows), *NOUNS[which])} from the {source}."


def apply_paste(which: str) -> None:
    """Button callback: the pasted text replaces the table."""
    _apply_list_text(which, st.session_state.get(k(f"{which}_paste"), "") or "", "pasted text")


def apply_upload(which: str) -> None:
    """Upload callback: the CSV file replaces the table."""
    loaded = uploaded_text(k(f"{which}_csv"), k(f"{which}_error"), FIELDS[TABLES[which]])
    if loaded is not None:
        _apply_list_text(which, *loaded)


# ---------------------------------------------------------------- form sections


def task_form() -> dict[str, Any]:
    """Instruction, label set and the two formats; returns those parts of the spec."""
    instruction = st.text_area(
        "Instruction (optional)",
        key=k("instruction"),
        height=70,
        help="Written once at the top of the prompt, before the examples.",
    )
    labels_text = st.text_input(
        "Labels the model chooses between (separated by commas)",
        key=k("labels"),
        help="Every example and query must have one of these labels. The model's answer is the label it "
        "finds most likely after the query.",
    )
    c1, c2 = st.columns(2)
    example_format = c1.text_area(
        "How each example is written",
        key=k("example_format"),
        height=110,
        help="Use {input} for the example's text and {label} for its label. Press Enter for a new line; "
        "end with a blank line to separate examples.",
    )
    query_format = c2.text_area(
        "How the query is written",
        key=k("query_format"),
        height=110,
        help="Use {input} for the query's text; the model's label comes right after it.",
    )
    return {
        "instruction": instruction,
        "labels": labels_from_text(labels_text),
        "example_format": example_format,
        "query_format": query_format,
    }


def table_form(which: str, labels: list[str]) -> list[dict[str, str]]:
    """The examples or queries table with paste and upload; returns its rows."""
    state = st.session_state
    noun = TABLES[which]
    tab_table, tab_paste, tab_upload = st.tabs(LIST_TABS)
    label_help = "One of the labels: " + ", ".join(labels) if labels else "Its label."
    with tab_table:
        rows = table_editor(
            state.get(k(f"{which}_base")) or [],
            COLUMNS,
            key=table_key(which),
            column_config={
                "input": st.column_config.TextColumn("input", help="The text.", width="large"),
                "label": st.column_config.TextColumn(
                    "label",
                    help=label_help + (" (the right answer)" if which == "q" else ""),
                ),
            },
        )
        state[k(f"{which}_now")] = rows
    with tab_paste:
        paste_box(
            f"Paste the {noun}: first line input,label, then one per line (commas or tabs, e.g. from a spreadsheet)",
            k(f"{which}_paste"),
            placeholder='input,label\n"A warm, funny film.",positive\n...',
            button=f"Use the pasted {noun}",
            on_paste=apply_paste,
            args=(which,),
        )
    with tab_upload:
        csv_uploader(
            f"A CSV file of {noun} with the columns input and label", k(f"{which}_csv"), apply_upload, args=(which,)
        )
    list_message(k(f"{which}_error"), k(f"{which}_note"))
    filled = [r for r in rows if r["input"] or r["label"]]
    counts: dict[str, int] = {}
    for r in filled:
        counts[r["label"] or "(no label)"] = counts.get(r["label"] or "(no label)", 0) + 1
    if filled:
        st.caption(
            escape_markdown(
                f"{counted(len(filled), *NOUNS[which])}: " + ", ".join(f"{lab} {n}" for lab, n in counts.items())
            )
        )
    return rows


def preview(spec: dict[str, Any]) -> None:
    """The prompt as the model reads it for the first query, when the form is complete."""
    try:
        parsed = parse(spec)
    except WhyLMError:
        return
    with st.expander("Preview the prompt (all examples, first query)"):
        st.code(parsed.user_text(range(len(parsed.examples)), 0) + parsed.label_text("…"), language=None)


# ---------------------------------------------------------------- the whole form


def build_spec() -> tuple[dict[str, Any], str | None]:
    """Draw the whole form; return (spec, a sentence saying what to fix in a table, or None)."""
    st.subheader("1. The task")
    task = task_form()
    table_error = None
    st.subheader("2. The examples in the prompt")
    ex_rows = table_form("ex", task["labels"])
    st.subheader("3. The test queries, with their right labels")
    q_rows = table_form("q", task["labels"])
    try:
        examples = pairs_from_rows(ex_rows, "examples")
    except SpecError as exc:
        examples, table_error = [], few_shot_error_sentence(exc)
    try:
        queries = pairs_from_rows(q_rows, "queries")
    except SpecError as exc:
        queries, table_error = [], table_error or few_shot_error_sentence(exc)
    st.subheader("4. Method")
    settings = settings_form(PREFIX)
    spec = {
        "kind": "few_shot",
        "model": chosen_model(),
        **task,
        "examples": examples,
        "queries": queries,
        **settings,
    }
    method_note(spec)
    preview(spec)
    return spec, table_error


def validate(spec: dict[str, Any], form_error: str | None) -> str | None:
    """The sentence that says what to fix in the form, or None when the spec can run."""
    if form_error:
        return form_error
    if not spec["examples"]:
        return "Examples: there are no examples; give at least one labelled example."
    if not spec["queries"]:
        return "Queries: there are no queries; give at least one test item with its right label."
    return spec_problem(spec, few_shot_error_sentence)


def few_shot_form() -> tuple[dict[str, Any], Callable[[], str | None]]:
    """The ready-made tasks and the whole form; returns (spec, the check Run calls)."""
    restore_from_url(PREFIX, load_preset_state, RESULT_KEY, JOB_KEY)
    presets = few_shot_presets()
    if k("labels") not in st.session_state:
        st.session_state[k("preset")] = "sentiment" if "sentiment" in presets else next(iter(presets))
        load_preset_state(presets[st.session_state[k("preset")]])
    probe_preset_picker(PREFIX, "Ready-made tasks", presets, on_load=load_preset)
    spec, form_error = build_spec()
    st.session_state.setdefault(k("tags"), "few-shot")
    return spec, lambda: validate(spec, form_error)
