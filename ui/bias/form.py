"""The Bias associations form: a template, groups of values, candidates and the settings -> a bias spec.

The form builds a bias spec (see ``core.probes.bias.spec``): a template, the
swept slot(s) with groups of values (edited in a table, pasted, or uploaded as
a CSV), fixed values for the other slots, the candidate list, the two groups
to compare, and the settings (``ui.bias.settings``). :func:`bias_form` draws
it all and returns the spec with the check that Run calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from core.errors import SpecError
from core.probes.bias.data import bias_presets
from core.probes.bias.power import spec_design
from core.probes.bias.settings import ATTRIBUTION_PROMPTS, bias_cost
from core.probes.bias.spec import plural, split_candidate, template_slots
from core.text import counted
from ui.bias.convert import (
    candidates_from_text,
    rows_from_sweep,
    sweep_from_list_text,
    sweep_from_rows,
    text_from_candidates,
)
from ui.bias.settings import settings_form, settings_state
from ui.shared.errors import error_sentence, show_error
from ui.shared.links import forget_run_link, restore_from_url
from ui.shared.markdown import escape_markdown
from ui.shared.model import chosen_model
from ui.shared.page_parts import (
    LIST_TABS,
    csv_uploader,
    list_message,
    paste_box,
    probe_preset_picker,
    spec_problem,
    stage_form,
    table_editor,
    uploaded_text,
)
from ui.shared.param_inputs import number_ok
from ui.shared.spec_form import example_state, split_alternatives
from ui.shared.widget_state import hold

PREFIX = "bi"
JOB_KEY = "bi_job"
RESULT_KEY = "bi_result"
FIELDS = {
    "template": "Template",
    "sweep": "Groups",
    "values": "Other slots",
    "vary": "Other slots",
    "candidates": "Candidates",
    "compare": "Groups to compare",
    "score": "Score",
    "bootstrap": "Bootstrap resamples",
    "permutations": "Permutations",
    "level": "Confidence level",
    "seed": "Seed",
    "attribution": "Attribution",
    "chat": "Chat mode",
    "model": "Model",
    "csv": "List of values",
}


def k(name: str) -> str:
    """Session-state key of one of this page's widgets."""
    return f"{PREFIX}_{name}"


def bias_error_sentence(exc: BaseException) -> str:
    """A bias SpecError as a sentence that names the form field ("Groups: the group ...")."""
    return error_sentence(exc, FIELDS)


# ---------------------------------------------------------------- state changes (callbacks)


def group_rows_state(slots: list[str], rows: list[dict[str, str]]) -> dict[str, Any]:
    """Session-state values that replace the group table's contents (it is redrawn fresh)."""
    return {
        k("rows_base"): [dict(r) for r in rows],
        k("rows_cols"): ["group", *slots],
        k("rows_now"): [dict(r) for r in rows],
        k("rows_version"): st.session_state.get(k("rows_version"), 0) + 1,
    }


def set_group_rows(slots: list[str], rows: list[dict[str, str]]) -> None:
    """Replace the group table's contents (it is redrawn fresh)."""
    st.session_state.update(group_rows_state(slots, rows))


def load_preset_state(spec: dict[str, Any], title: str | None = None) -> None:
    """Fill the whole form from a bias spec (a preset or a stored run's spec), as one change (``stage_form``)."""
    slots, rows = rows_from_sweep(spec["sweep"])
    state: dict[str, Any] = {k("template"): spec["template"], k("sweep"): slots, **group_rows_state(slots, rows)}
    fixed = {s: str(v) for s, v in (spec.get("values") or {}).items()}
    fixed.update({s: " | ".join(v) for s, v in (spec.get("vary") or {}).items()})
    state[k("fixed")] = fixed
    state[k("fixed_version")] = st.session_state.get(k("fixed_version"), 0) + 1
    text, spaced = text_from_candidates(list(spec.get("candidates") or []))
    state[k("candidates")] = text
    state[k("space")] = spaced
    names = list(dict.fromkeys(r["group"] for r in rows))
    compare = list(spec.get("compare") or names[:2])
    state[k("compare_a")], state[k("compare_b")] = compare[0], compare[1]
    state.update(settings_state(PREFIX, spec))
    state.update(example_state(PREFIX, spec.get("title", "") if title is None else title, spec))
    state[k("list_error")] = None
    state[k("list_note")] = None
    stage_form(PREFIX, state)


def load_preset() -> None:
    """Button callback: load the chosen preset into the form."""
    load_preset_state(bias_presets()[st.session_state[k("preset")]])
    forget_run_link()


def _apply_list_text(text: str, source: str) -> None:
    state = st.session_state
    try:
        order = template_slots(state.get(k("template"), ""))
    except SpecError:
        order = []
    try:
        sweep = sweep_from_list_text(text, order, list(state.get(k("sweep")) or []))
    except SpecError as exc:
        state[k("list_error")] = bias_error_sentence(exc)
        state[k("list_note")] = None
        return
    slots, rows = rows_from_sweep(sweep)
    state[k("sweep")] = slots
    set_group_rows(slots, rows)
    names = list(sweep["groups"])
    state[k("compare_a")], state[k("compare_b")] = names[0], names[1]
    state.pop(k("list_error"), None)
    state[k("list_note")] = (
        f"Loaded {counted(len(rows), 'value')} in {counted(len(names), 'group')} from the {source} "
        f"({', '.join(f'{g}: {len(v)}' for g, v in sweep['groups'].items())})."
    )


def apply_paste() -> None:
    """Button callback: the pasted text replaces the group table."""
    _apply_list_text(st.session_state.get(k("paste"), ""), "pasted text")


def apply_upload() -> None:
    """Upload callback: the CSV file replaces the group table."""
    loaded = uploaded_text(k("csv"), k("list_error"), "List of values")
    if loaded is not None:
        _apply_list_text(*loaded)


# ---------------------------------------------------------------- form sections


def template_form() -> tuple[str, list[str] | None]:
    """The template box; returns (template, its slots) or (template, None) after showing why not."""
    template = st.text_area(
        "Template",
        key=k("template"),
        height=80,
        help=(
            "The prompt, with each part that changes written as a {slot}; the model continues it with each "
            "candidate. Write {candidate} where the candidates go when text follows them (it is scored too)."
        ),
    )
    try:
        head, _ = split_candidate(template)
        order = template_slots(head)
    except SpecError as exc:
        show_error("Template: " + exc.sentence)
        return template, None
    place = "at the end" if head == template else "where {candidate} is"  # the parser's reading, not a substring
    st.caption(
        "Slots found: " + escape_markdown(", ".join(f"{{{s}}}" for s in order)) + f"; the candidates go {escape_markdown(place)}."
    )
    return template, order


def sweep_form(order: list[str]) -> tuple[list[str], str | None]:
    """Which slot(s) change together across the groups; returns (slots, a sentence when one is not in the template)."""
    state = st.session_state
    chosen = [s for s in state.get(k("sweep")) or [] if isinstance(s, str)]
    stale = [s for s in chosen if s not in order]
    state[k("sweep")] = chosen
    options = list(order) + stale
    swept = st.multiselect(
        "Slots that change with the group",
        options,
        key=k("sweep"),
        format_func=lambda s: s if s in order else f"{s} (not in the template)",
        help="For example a name and its pronoun, which always change together. Each row of the table "
        "below gives one value for each of these slots.",
    )
    if stale:
        return swept, (
            f"Groups: the template has no slot {', '.join('{' + s + '}' for s in stale)} any more; "
            f"remove it from the swept slots or put it back in the template (its slots are {', '.join(order)})."
        )
    if not swept:
        return swept, "Groups: choose at least one slot that changes with the group."
    return swept, None


def groups_form(swept: list[str]) -> list[dict[str, str]]:
    """The group table (group, one column per swept slot), with paste and upload; returns its rows."""
    state = st.session_state
    cols = ["group", *swept]
    if state.get(k("rows_cols")) != cols:
        set_group_rows(swept, state.get(k("rows_now")) or [])
    digest = hashlib.sha1("\x1f".join(cols).encode()).hexdigest()[:10]
    tab_table, tab_paste, tab_upload = st.tabs(LIST_TABS)
    with tab_table:
        rows = table_editor(
            state.get(k("rows_base")) or [],
            cols,
            key=f"{k('groups')}_{state.get(k('rows_version'), 0)}_{digest}",
            column_config={
                "group": st.column_config.TextColumn(
                    "group", help="The group this row belongs to, e.g. female."
                ),
                **{s: st.column_config.TextColumn(s, help=f"The text that fills {{{s}}}.") for s in swept},
            },
        )
        state[k("rows_now")] = rows
    example = "group," + ",".join(swept or ["name"])
    with tab_paste:
        paste_box(
            "Paste a list (first line the header, then one row per value; commas or tabs)",
            k("paste"),
            placeholder=f"{example}\n...",
            button="Use the pasted list",
            on_paste=apply_paste,
        )
    with tab_upload:
        csv_uploader(f"A CSV file with the header {example}", k("csv"), on_upload=apply_upload)
    list_message(k("list_error"), k("list_note"))
    counts: dict[str, int] = {}
    for r in rows:
        if r.get("group"):
            counts[r["group"]] = counts.get(r["group"], 0) + 1
    if counts:
        st.caption(escape_markdown("Groups: " + ", ".join(f"{g} ({counted(n, 'value')})" for g, n in counts.items())))
    return rows


def fixed_form(order: list[str], swept: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Values for the slots that are not swept; returns (values, vary)."""
    others = [s for s in order if s not in swept]
    if not others:
        return {}, {}
    state = st.session_state
    known: dict[str, str] = state.setdefault(k("fixed"), {})
    digest = hashlib.sha1("\x1f".join(others).encode()).hexdigest()[:10]
    edited = st.data_editor(
        pd.DataFrame([{"slot": s, "value": known.get(s, "")} for s in others], columns=["slot", "value"]),
        key=f"{k('fixed_table')}_{state.get(k('fixed_version'), 0)}_{digest}",
        num_rows="fixed",
        hide_index=True,
        width="stretch",
        disabled=["slot"],
        column_config={
            "slot": st.column_config.TextColumn("Other slot"),
            "value": st.column_config.TextColumn(
                "Value",
                help="The same text for every prompt; several texts separated by | are each tried with every "
                "value of the groups (and averaged).",
            ),
        },
    )
    values: dict[str, str] = {}
    vary: dict[str, list[str]] = {}
    for row in edited.to_dict("records"):
        slot, text = str(row["slot"]), "" if row.get("value") is None else str(row["value"])
        known[slot] = text
        if "|" in text:
            vary[slot] = split_alternatives(text)
        else:
            values[slot] = text
    return values, vary


def candidates_form() -> list[str]:
    """The candidate box and the leading-space box; returns the spec's candidates."""
    hold(k("candidates"), "")
    hold(k("space"), True)
    candidates_text = st.text_area(
        "Candidates: the continuations to compare, one per line",
        key=k("candidates"),
        height=150,
        help="For example occupations after 'works as a'. Each is scored after every prompt.",
    )
    spaced = st.checkbox(
        "Start each candidate with a space (they continue the sentence)",
        key=k("space"),
        help="Models read ' nurse' (a new word) differently from 'nurse'; keep this on unless a candidate "
        "continues a word.",
    )
    return candidates_from_text(candidates_text, spaced)


def compare_form(names: list[str]) -> list[str]:
    """The two groups to compare (first minus second)."""
    state = st.session_state
    if len(names) < 2:
        st.caption("Give at least two groups to compare.")
        return names
    if state.get(k("compare_a")) not in names:
        state[k("compare_a")] = names[0]
    if state.get(k("compare_b")) not in names or state[k("compare_b")] == state[k("compare_a")]:
        state[k("compare_b")] = next(n for n in names if n != state[k("compare_a")])
    c1, c2 = st.columns(2)
    a = c1.selectbox("Compare this group", names, key=k("compare_a"))
    b = c2.selectbox(
        "with this group", names, key=k("compare_b"), help="Gaps are the first group minus the second."
    )
    return [a, b]


def work_estimate(spec: dict[str, Any]) -> None:
    """Below the settings: what the run will score (``core.probes.bias.settings.bias_cost``)."""
    attribution = spec["attribution"]
    if attribution.get("enabled") and not number_ok(ATTRIBUTION_PROMPTS, attribution.get("prompts")):
        return  # the box says what to fix; nothing to count yet
    cost = bias_cost(
        spec["sweep"]["groups"],
        spec["vary"],
        len(spec["candidates"]),
        bool(attribution.get("enabled")),
        attribution.get("prompts", ATTRIBUTION_PROMPTS.default),
    )
    if cost.prompts and cost.candidates:
        st.caption(escape_markdown(cost.sentence()))
    design = spec_design(spec)
    if design is not None:
        words = design.sentence(plural(spec["sweep"]["slots"][0]) if spec["sweep"]["slots"] else "values")
        (st.caption if design.can_find else st.warning)(escape_markdown(words))


# ---------------------------------------------------------------- the whole form


def build_spec() -> tuple[dict[str, Any] | None, str | None]:
    """Draw the whole form; return (spec, None) or (None, a sentence saying what to fix)."""
    st.subheader("1. The prompt")
    template, order = template_form()
    if order is None:
        return None, None
    st.subheader("2. The groups")
    swept, sweep_error = sweep_form(order)
    if sweep_error:
        show_error(sweep_error)
    rows = groups_form([s for s in swept if s in order])
    values, vary = fixed_form(order, swept)
    st.subheader("3. The candidates")
    candidates = candidates_form()
    st.subheader("4. Compare and measure")
    try:
        sweep = sweep_from_rows([s for s in swept if s in order], rows)
        table_error = None
    except SpecError as exc:
        sweep, table_error = {"slots": swept, "groups": {}}, bias_error_sentence(exc)
    compare = compare_form(list(sweep["groups"]))
    spec = {
        "kind": "bias",
        "model": chosen_model(),
        "template": template,
        "sweep": {"slots": list(swept), "groups": sweep["groups"]},
        "values": values,
        "vary": vary,
        "candidates": candidates,
        "compare": compare,
        **settings_form(PREFIX),
    }
    work_estimate(spec)
    return spec, sweep_error or table_error


def validate(spec: dict[str, Any] | None, form_error: str | None) -> str | None:
    """The sentence that says what to fix in the form, or None when the spec can run."""
    if form_error:
        return form_error
    if spec is None:
        return "Template: write a template with at least one {slot}."
    if not spec["candidates"]:
        return "Candidates: the candidate list is empty; write one continuation per line."
    return spec_problem(spec, bias_error_sentence)


def bias_form() -> tuple[dict[str, Any] | None, Callable[[], str | None]]:
    """The ready-made probes and the whole form; returns (spec, the check Run calls)."""
    restore_from_url(PREFIX, load_preset_state, RESULT_KEY, JOB_KEY)
    presets = bias_presets()
    if k("template") not in st.session_state:
        st.session_state[k("preset")] = next(iter(presets))
        load_preset_state(presets[st.session_state[k("preset")]])
    probe_preset_picker(PREFIX, "Ready-made probes", presets, on_load=load_preset)
    spec, form_error = build_spec()
    st.session_state.setdefault(k("tags"), "bias")
    return spec, lambda: validate(spec, form_error)
