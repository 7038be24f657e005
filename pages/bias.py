"""Bias associations: sweep a template's slot over groups of values and compare candidates' probabilities.

The form builds a bias spec (see ``core.bias_spec``): a template, the swept
slot(s) with groups of values (edited in a table, pasted, or uploaded as a
CSV), fixed values for the other slots, the candidate list, the two groups to
compare, the statistics and the slot attribution. The run goes through
``core.engine.run`` in a background thread and is saved; the result is drawn
by ``pages.bias_view.show_bias_result``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st

from core import engine
from core.bias_data import bias_presets, sweep_from_csv
from core.bias_spec import parse_bias_spec
from core.errors import SpecError
from core.features import parse_template
from pages.bias_view import show_bias_result
from pages.common import chosen_model_name, error_sentence, escape_markdown
from pages.method_form import method_form, method_state
from pages.page_parts import (
    LIST_TABS,
    cell_text,
    csv_uploader,
    list_message,
    paste_box,
    probe_preset_picker,
    spec_problem,
    spreadsheet_csv,
    table_editor,
    uploaded_text,
)
from pages.run_job import run_controls
from pages.spec_form import split_alternatives

PREFIX = "bi"
JOB_KEY = "bi_job"
RESULT_KEY = "bi_result"
SCORES = {
    "log_prob": "Log-probability of the candidate",
    "renorm_log_prob": "Renormalised over the candidates (log)",
}
LEVELS = [0.9, 0.95, 0.99]
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


# ---------------------------------------------------------------- pure conversions


def rows_from_sweep(sweep: dict[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    """The swept slots and the group table's rows (group, one column per slot) of a spec's sweep."""
    slots = sweep.get("slots") or []
    slots = [slots] if isinstance(slots, str) else list(slots)
    rows = []
    for group, entries in (sweep.get("groups") or {}).items():
        for entry in entries:
            values = [entry] if isinstance(entry, str) else list(entry)
            rows.append({"group": str(group), **{s: str(v) for s, v in zip(slots, values)}})
    return slots, rows


def sweep_from_rows(slots: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A spec's sweep from table rows; blank rows are skipped; raise SpecError for a row without a group."""
    groups: dict[str, list[list[str]]] = {}
    for number, row in enumerate(rows, start=1):
        group = cell_text(row.get("group"))
        values = [cell_text(row.get(s)) for s in slots]
        if not group and not any(values):
            continue
        if not group:
            raise SpecError("sweep", f"row {number} of the table has values but no group; name its group.")
        if not all(values):
            missing = ", ".join(s for s, v in zip(slots, values) if not v)
            raise SpecError(
                "sweep", f"row {number} of the table ({group}) has no {missing}; fill every cell."
            )
        groups.setdefault(group, []).append(values)
    return {"slots": list(slots), "groups": groups}


def candidates_from_text(text: str, leading_space: bool) -> list[str]:
    """One candidate per non-blank line; with ``leading_space`` each starts with exactly one space."""
    out = []
    for line in (text or "").splitlines():
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        out.append(" " + line.strip() if leading_space else line)
    return out


def text_from_candidates(candidates: list[str]) -> tuple[str, bool]:
    """The candidate text box and the leading-space box for a spec's candidates."""
    spaced = bool(candidates) and all(
        c.startswith(" ") and c[1:] == c[1:].strip() and c.strip() for c in candidates
    )
    lines = [c[1:] if spaced else c for c in candidates]
    return "\n".join(lines), spaced


def csv_text(text: str) -> str:
    """Pasted or uploaded list text as CSV: tab-separated text (from a spreadsheet) becomes commas."""
    return spreadsheet_csv(text, commas_mean_csv=True)


def sweep_from_list_text(text: str, template_slots: list[str], swept: list[str]) -> dict[str, Any]:
    """A sweep from CSV text whose header is ``group`` then swept slot names.

    The columns choose the swept slots when they all are slots of the template;
    a single ``value`` column fills the one swept slot. Otherwise the CSV
    loader's sentence says which header to use (SpecError, field "csv").
    """
    text = csv_text(text)
    sweep = sweep_from_csv(text)
    columns = sweep["slots"]
    if columns == ["value"] and len(swept) == 1:
        return sweep_from_csv(text, swept)
    if all(c in template_slots for c in columns):
        return sweep
    strangers = [c for c in columns if c not in template_slots]
    if swept:
        try:
            return sweep_from_csv(text, swept)
        except SpecError as exc:
            raise SpecError(
                "csv",
                f"the template has no slot {', '.join('{' + s + '}' for s in strangers)}; "
                + str(exc).split(": ", 1)[-1],
            ) from None
    raise SpecError(
        "csv",
        f"the template has no slot {', '.join('{' + s + '}' for s in strangers)}; its slots are "
        f"{', '.join(template_slots)}.",
    )


# ---------------------------------------------------------------- state changes (callbacks)


def set_group_rows(slots: list[str], rows: list[dict[str, str]]) -> None:
    """Replace the group table's contents (it is redrawn fresh)."""
    st.session_state[k("rows_base")] = [dict(r) for r in rows]
    st.session_state[k("rows_cols")] = ["group", *slots]
    st.session_state[k("rows_now")] = [dict(r) for r in rows]
    st.session_state[k("rows_version")] = st.session_state.get(k("rows_version"), 0) + 1


def load_preset_state(spec: dict[str, Any]) -> None:
    """Fill the whole form from a bias spec (a preset or a stored run's spec)."""
    state = st.session_state
    slots, rows = rows_from_sweep(spec["sweep"])
    state[k("template")] = spec["template"]
    state[k("sweep")] = slots
    set_group_rows(slots, rows)
    fixed = {s: str(v) for s, v in (spec.get("values") or {}).items()}
    fixed.update({s: " | ".join(v) for s, v in (spec.get("vary") or {}).items()})
    state[k("fixed")] = fixed
    state[k("fixed_version")] = state.get(k("fixed_version"), 0) + 1
    text, spaced = text_from_candidates(list(spec.get("candidates") or []))
    state[k("candidates")] = text
    state[k("space")] = spaced
    names = list(dict.fromkeys(r["group"] for r in rows))
    compare = list(spec.get("compare") or names[:2])
    state[k("compare_a")], state[k("compare_b")] = compare[0], compare[1]
    state[k("score")] = spec.get("score", "log_prob")
    state[k("bootstrap")] = int(spec.get("bootstrap", 2000))
    state[k("permutations")] = int(spec.get("permutations", 5000))
    state[k("seed")] = int(spec.get("seed", 0))
    state[k("level")] = float(spec.get("level", 0.95))
    state[k("chat")] = bool(spec.get("chat", False))
    attr = spec.get("attribution", True)
    attr = {"enabled": attr} if isinstance(attr, bool) else dict(attr)
    state[k("attr_on")] = bool(attr.get("enabled", True))
    state.update(
        method_state(k("attr"), {"name": attr.get("method", "feature_ablation"), **attr.get("params", {})})
    )
    state[k("attr_trials")] = int(attr.get("trials", 3))
    state[k("attr_prompts")] = int(attr.get("prompts", 8))
    state[k("title")] = spec.get("title", "")
    state.pop(k("list_error"), None)
    state[k("list_note")] = None


def load_preset() -> None:
    """Button callback: load the chosen preset into the form."""
    load_preset_state(bias_presets()[st.session_state[k("preset")]])


def _apply_list_text(text: str, source: str) -> None:
    state = st.session_state
    try:
        _, order = parse_template(state.get(k("template"), ""))
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
        f"Loaded {len(rows)} values in {len(names)} groups from the {source} "
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


# ---------------------------------------------------------------- form


def template_form() -> tuple[str, list[str] | None]:
    """The template box; returns (template, its slots) or (template, None) after showing why not."""
    template = st.text_area(
        "Template",
        key=k("template"),
        height=80,
        help="The prompt, with each part that changes written as a {slot}; the model continues it.",
    )
    try:
        _, order = parse_template(template)
    except SpecError as exc:
        st.error("Template: " + str(exc).split(": ", 1)[-1])
        return template, None
    st.caption("Slots found: " + escape_markdown(", ".join(f"{{{s}}}" for s in order)))
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
        st.caption(escape_markdown("Groups: " + ", ".join(f"{g} ({n} values)" for g, n in counts.items())))
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


def settings_form() -> dict[str, Any]:
    """Score, statistics, attribution and chat settings (part of the spec)."""
    state = st.session_state
    defaults = {
        "score": "log_prob",
        "bootstrap": 2000,
        "permutations": 5000,
        "seed": 0,
        "level": 0.95,
        "chat": False,
        "attr_on": True,
        "attr_trials": 3,
        "attr_prompts": 8,
    }
    for name, value in defaults.items():
        state.setdefault(k(name), value)
    if state[k("level")] not in LEVELS:
        state[k("level")] = min(LEVELS, key=lambda v: abs(v - float(state[k("level")])))
    score = st.radio(
        "Score",
        list(SCORES),
        format_func=SCORES.get,
        key=k("score"),
        horizontal=True,
        help="Log-probability: how likely the model makes the candidate as a continuation. Renormalised: "
        "its share among the candidates only, so a prompt that makes every candidate less likely does not count.",
    )
    c1, c2, c3, c4 = st.columns(4)
    bootstrap = c1.number_input(
        "Bootstrap resamples",
        min_value=100,
        max_value=200_000,
        step=500,
        key=k("bootstrap"),
        help="More resamples give steadier confidence intervals (and take a little longer).",
    )
    permutations = c2.number_input(
        "Permutations",
        min_value=100,
        max_value=1_000_000,
        step=1000,
        key=k("permutations"),
        help="For the p-values: how often the group labels are shuffled.",
    )
    level = c3.selectbox("Confidence level", LEVELS, format_func=lambda v: f"{v:.0%}", key=k("level"))
    seed = c4.number_input(
        "Random seed", min_value=0, step=1, key=k("seed"), help="The same seed gives the same numbers."
    )
    chat = st.checkbox(
        "Chat mode: wrap each prompt in the model's chat template",
        key=k("chat"),
        help="For instruction-tuned models answering a question; usually off for sentence completion.",
    )
    with st.container(border=True):
        attr_on = st.toggle(
            "Find which slot carries each gap (attribution)",
            key=k("attr_on"),
            help="Swaps each slot of some prompts for the other group's values to see which slot moves the score.",
        )
        attribution: dict[str, Any] = {"enabled": bool(attr_on)}
        if attr_on:
            method = method_form(k("attr"), "perturbation")
            c5, c6 = st.columns(2)
            trials = c5.number_input(
                "Swaps per prompt",
                min_value=1,
                max_value=100,
                step=1,
                key=k("attr_trials"),
                help="How many values of the other group are swapped in for each attributed prompt.",
            )
            prompts = c6.number_input(
                "Prompts to attribute",
                min_value=1,
                max_value=1000,
                step=1,
                key=k("attr_prompts"),
                help="How many sweep prompts are attributed (half from each compared group); more cost more time.",
            )
            params = {p: v for p, v in method.items() if p != "name"}
            attribution.update(
                {"method": method["name"], "trials": int(trials), "prompts": int(prompts), "params": params}
            )
    return {
        "chat": bool(chat),
        "score": score,
        "bootstrap": int(bootstrap),
        "permutations": int(permutations),
        "level": float(level),
        "seed": int(seed),
        "attribution": attribution,
    }


def build_spec() -> tuple[dict[str, Any] | None, str | None]:
    """Draw the whole form; return (spec, None) or (None, a sentence saying what to fix)."""
    st.subheader("1. The prompt")
    template, order = template_form()
    if order is None:
        return None, None
    st.subheader("2. The groups")
    swept, sweep_error = sweep_form(order)
    if sweep_error:
        st.error(sweep_error)
    rows = groups_form([s for s in swept if s in order])
    values, vary = fixed_form(order, swept)
    st.subheader("3. The candidates")
    st.session_state.setdefault(k("candidates"), "")
    st.session_state.setdefault(k("space"), True)
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
    candidates = candidates_from_text(candidates_text, spaced)
    st.subheader("4. Compare and measure")
    try:
        sweep = sweep_from_rows([s for s in swept if s in order], rows)
        table_error = None
    except SpecError as exc:
        sweep, table_error = {"slots": swept, "groups": {}}, bias_error_sentence(exc)
    compare = compare_form(list(sweep["groups"]))
    settings = settings_form()
    spec = {
        "kind": "bias",
        "model": chosen_model_name() or "default",
        "template": template,
        "sweep": {"slots": list(swept), "groups": sweep["groups"]},
        "values": values,
        "vary": vary,
        "candidates": candidates,
        "compare": compare,
        **settings,
    }
    _work_estimate(sweep, vary, candidates, settings)
    return spec, sweep_error or table_error


def _work_estimate(
    sweep: dict[str, Any], vary: dict[str, list[str]], candidates: list[str], settings: dict
) -> None:
    n = sum(len(v) for v in sweep["groups"].values())
    for options in vary.values():
        n *= max(1, len(options))
    if not n or not candidates:
        return
    words = f"{n:,} prompts x {len(candidates):,} candidates = {n * len(candidates):,} scores"
    attr = settings["attribution"]
    if attr.get("enabled"):
        words += f", plus the attribution of {min(attr['prompts'], n):,} prompts"
    st.caption(escape_markdown(words + "."))


def validate(spec: dict[str, Any] | None, form_error: str | None) -> str | None:
    """The sentence that says what to fix in the form, or None when the spec can run."""
    if form_error:
        return form_error
    if spec is None:
        return "Template: write a template with at least one {slot}."
    if not spec["candidates"]:
        return "Candidates: the candidate list is empty; write one continuation per line."
    return spec_problem(parse_bias_spec, spec, bias_error_sentence)


def main() -> None:
    """The page."""
    st.title("Bias associations")
    st.caption(
        "Does the model tie some continuations to some groups? WhyLM fills a template with many values "
        "from two groups (for example women's and men's names), scores each candidate continuation after "
        "every prompt, and compares the groups with confidence intervals and tests."
    )
    presets = bias_presets()
    if k("template") not in st.session_state:
        st.session_state[k("preset")] = next(iter(presets))
        load_preset_state(presets[st.session_state[k("preset")]])
    probe_preset_picker(PREFIX, "Ready-made probes", presets, on_load=load_preset)

    spec, form_error = build_spec()
    st.session_state.setdefault(k("tags"), "bias")
    run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, lambda: validate(spec, form_error), show_bias_result, engine.run)


if __name__ == "__main__":  # streamlit runs pages as __main__; tests import the helpers
    main()
