"""Form pieces that build a run spec: the template slot table, the target, run settings.

The pure functions (:func:`rows_from_prompt`, :func:`prompt_from_rows`,
:func:`split_alternatives`, :func:`target_state`) convert between a spec and
what the form shows, so a loaded example and a typed one give the same spec.
The ``*_form`` functions draw widgets keyed by a page prefix and return
parts of a spec.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pandas as pd
import streamlit as st

from core.attribution.features import paired_groups, parse_template
from core.attribution.spec import GENERATE, GENERATE_DEFAULTS
from core.errors import SpecError
from core.runs.saved import asked_text, normalised_spec, title_for
from ui.shared.markdown import escape_markdown
from ui.shared.param_inputs import param_input
from ui.shared.widget_state import hold

SLOT_COLUMNS = ["slot", "value", "baseline", "alternatives", "group"]

TARGET_GENERATE = "Let the model write it"
TARGET_GIVEN = "Text I give"
TARGET_CONTRAST = "Why A rather than B"
GREEDY = "Most likely words (greedy)"
SAMPLING = "Sampling"
SCORE_LABELS = {"log_prob": "Log-probability", "prob": "Probability"}


# ---------------------------------------------------------------- slot table (pure)


def split_alternatives(text: Any) -> list[str]:
    """Alternatives typed in one cell: split on "|" when present, else on commas; blanks dropped."""
    if not isinstance(text, str) or not text.strip():
        return []
    sep = "|" if "|" in text else ","
    return [part.strip() for part in text.split(sep) if part.strip()]


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)


def rows_from_prompt(prompt: dict[str, Any]) -> list[dict[str, str]]:
    """Slot table rows (slot, value, baseline, alternatives, group) for a template prompt."""
    _, order = parse_template(prompt["template"])

    def per_slot(raw: Any) -> dict[str, Any]:
        if isinstance(raw, list):
            return {str(i): v for i, v in enumerate(raw)}
        return {str(k): v for k, v in (raw or {}).items()}

    values, baselines = per_slot(prompt.get("values")), per_slot(prompt.get("baselines"))
    group_of: dict[str, str] = {}
    groups = prompt.get("groups") or {}
    items = (
        groups.items() if isinstance(groups, dict) else ((f"group {i + 1}", g) for i, g in enumerate(groups))
    )
    for label, slots in items:
        for sid in slots:
            group_of[str(sid)] = str(label)
    rows = []
    for sid in order:
        base = baselines.get(sid, "")
        rows.append(
            {
                "slot": sid,
                "value": _cell(values.get(sid, "")),
                "baseline": "" if isinstance(base, list) else _cell(base),
                "alternatives": " | ".join(base) if isinstance(base, list) else "",
                "group": group_of.get(sid, ""),
            }
        )
    return rows


def prompt_from_rows(template: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A template prompt for the spec from the slot table.

    A slot's alternatives (if any) replace its baseline and are sampled per
    trial; slots sharing a group label move as one feature; a group that can
    be paired (``core.attribution.features.paired_groups``: its slots all list
    the same number of alternatives) draws them together, so for example a
    name and its pronoun always agree.
    """
    _, order = parse_template(template)
    by_slot = {str(r.get("slot")): r for r in rows}
    positional = all(s.isdigit() for s in order)
    values: dict[str, str] = {}
    baselines: dict[str, Any] = {}
    groups: dict[str, list[str]] = {}
    for sid in order:
        row = by_slot.get(sid, {})
        values[sid] = _cell(row.get("value"))
        alts = split_alternatives(row.get("alternatives"))
        base = _cell(row.get("baseline"))
        if alts:
            baselines[sid] = alts
        elif base:
            baselines[sid] = base
        group = _cell(row.get("group")).strip()
        if group:
            groups.setdefault(group, []).append(sid)
    prompt: dict[str, Any] = {"template": template}
    if positional:
        prompt["values"] = [values[s] for s in order]
        if baselines:
            prompt["baselines"] = [baselines.get(s, "") for s in order]
    else:
        prompt["values"] = values
        if baselines:
            prompt["baselines"] = baselines
    if groups:
        prompt["groups"] = groups
    paired = paired_groups(groups, baselines)
    if paired:
        prompt["paired"] = paired
    return prompt


def slot_table(prefix: str, template: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Detect the template's slots and draw them as an editable table.

    Returns (rows, None), or (None, a sentence) when the template cannot be
    read (unbalanced braces, no slots). Values typed for a slot are kept when
    the template changes, as long as the slot keeps its name.
    """
    try:
        _, order = parse_template(template)
    except SpecError as exc:
        return None, str(exc)
    rows_key = f"{prefix}_slot_rows"
    known: dict[str, dict[str, Any]] = st.session_state.setdefault(rows_key, {})
    rows = [{c: _cell(known.get(sid, {}).get(c, "")) for c in SLOT_COLUMNS} | {"slot": sid} for sid in order]
    version = st.session_state.get(f"{prefix}_slot_version", 0)
    digest = hashlib.sha1("\x1f".join(order).encode()).hexdigest()[:10]
    edited = st.data_editor(
        pd.DataFrame(rows, columns=SLOT_COLUMNS),
        key=f"{prefix}_slots_{version}_{digest}",
        num_rows="fixed",
        hide_index=True,
        width="stretch",
        disabled=["slot"],
        column_config={
            "slot": st.column_config.TextColumn("Slot", help="The slot's name in the template."),
            "value": st.column_config.TextColumn("Value", help="The text that fills the slot."),
            "baseline": st.column_config.TextColumn(
                "Baseline", help="What replaces the slot when it is 'absent'; empty removes it."
            ),
            "alternatives": st.column_config.TextColumn(
                "Alternatives",
                help="Several replacements separated by | or commas; one is drawn at random in each trial.",
            ),
            "group": st.column_config.TextColumn(
                "Group", help="Slots with the same group name are switched on and off together."
            ),
        },
    )
    out = [{c: _cell(r.get(c)) for c in SLOT_COLUMNS} for r in edited.to_dict("records")]
    for row in out:
        known[row["slot"]] = row
    return out, None


def slot_rows_state(prefix: str, rows: list[dict[str, str]]) -> dict[str, Any]:
    """Session-state values that put rows into the slot table (loading an example); the table is redrawn fresh."""
    return {
        f"{prefix}_slot_rows": {r["slot"]: dict(r) for r in rows},
        f"{prefix}_slot_version": st.session_state.get(f"{prefix}_slot_version", 0) + 1,
    }


# ---------------------------------------------------------------- target


def target_state(prefix: str, target: dict[str, Any]) -> dict[str, Any]:
    """Widget values that show a spec's target in :func:`target_form`."""
    state: dict[str, Any] = {}
    if "generate" in target:
        gen = {**GENERATE_DEFAULTS, **(target["generate"] if isinstance(target["generate"], dict) else {})}
        state[f"{prefix}_target_kind"] = TARGET_GENERATE
        state[f"{prefix}_max_new"] = int(gen["max_new_tokens"])
        state[f"{prefix}_decoding"] = SAMPLING if gen["do_sample"] else GREEDY
        state[f"{prefix}_temperature"] = float(gen["temperature"])
        state[f"{prefix}_top_p"] = float(gen["top_p"])
        state[f"{prefix}_gen_seed"] = int(gen["seed"])
    elif target.get("contrast"):
        state[f"{prefix}_target_kind"] = TARGET_CONTRAST
        state[f"{prefix}_target_text"] = target["text"]
        state[f"{prefix}_contrast_text"] = target["contrast"]
    else:
        state[f"{prefix}_target_kind"] = TARGET_GIVEN
        state[f"{prefix}_target_text"] = target["text"]
    return state


def target_form(prefix: str, allow_contrast: bool = True) -> dict[str, Any]:
    """Draw the target choice (generate / given text / A rather than B); return the spec's target."""
    kinds = [TARGET_GENERATE, TARGET_GIVEN] + ([TARGET_CONTRAST] if allow_contrast else [])
    kind_key = f"{prefix}_target_kind"
    if st.session_state.get(kind_key) not in kinds:
        st.session_state[kind_key] = kinds[0]
    kind = st.radio(
        "Output to explain",
        kinds,
        key=kind_key,
        horizontal=True,
        help="Explain what the model writes itself, a text you give, or why it prefers one text to another.",
    )
    if kind == TARGET_GENERATE:
        hold(f"{prefix}_decoding", SAMPLING if GENERATE["do_sample"].default else GREEDY)
        c1, c2 = st.columns(2)
        max_new = param_input(GENERATE["max_new_tokens"], f"{prefix}_max_new", c1)
        decoding = c2.radio(
            "Decoding",
            [GREEDY, SAMPLING],
            key=f"{prefix}_decoding",
            horizontal=True,
            help=GENERATE["do_sample"].help,
        )
        gen: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": decoding == SAMPLING}
        if decoding == SAMPLING:
            c3, c4, c5 = st.columns(3)
            gen["temperature"] = param_input(GENERATE["temperature"], f"{prefix}_temperature", c3)
            gen["top_p"] = param_input(GENERATE["top_p"], f"{prefix}_top_p", c4)
            gen["seed"] = param_input(GENERATE["seed"], f"{prefix}_gen_seed", c5)
        return {"generate": gen}
    hold(f"{prefix}_target_text", "")
    label = "Output A (explained)" if kind == TARGET_CONTRAST else "Output text"
    text = st.text_area(
        label,
        key=f"{prefix}_target_text",
        height=68,
        help="Start it with a space if it continues a sentence.",
    )
    target: dict[str, Any] = {"text": text}
    if kind == TARGET_CONTRAST:
        hold(f"{prefix}_contrast_text", "")
        target["contrast"] = st.text_area(
            "Output B (the alternative)", key=f"{prefix}_contrast_text", height=68
        )
    return target


def score_form(prefix: str) -> str:
    """Draw the score choice; return "log_prob" or "prob"."""
    hold(f"{prefix}_score", "log_prob")
    return st.radio(
        "Score",
        list(SCORE_LABELS),
        format_func=SCORE_LABELS.get,
        key=f"{prefix}_score",
        horizontal=True,
        help="Log-probability adds up over output tokens (the usual choice); probability reads as a percentage.",
    )


def example_state(prefix: str, title: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Session-state values that remember a loaded example (its title names runs of its spec) and clear the title box."""
    return {f"{prefix}_example": {"title": title, "spec": _comparable(spec)}, f"{prefix}_title": ""}


def _comparable(spec: Any) -> Any:
    """A spec as run (defaults filled in), without the model and title, to tell whether a form still shows an example."""
    doc = normalised_spec(copy.deepcopy(spec))
    if isinstance(doc, dict):
        return {k: v for k, v in doc.items() if k not in ("model", "title")}
    return doc


def auto_title(prefix: str, spec: dict[str, Any] | None) -> str:
    """The title a run of ``spec`` gets when none is typed.

    The loaded example's title while the form still holds that example; otherwise
    the start of the prompt (``core.runs.saved.title_for``), so it follows what is run.
    """
    if spec is None:
        return ""
    example = st.session_state.get(f"{prefix}_example")
    if isinstance(example, dict) and example.get("spec") == _comparable(spec):
        return str(example["title"])
    # no prompt yet: the box stays empty ("made from the prompt"), never "attribution run on default"
    return title_for(spec) if asked_text(spec) else ""


def follow_title(prefix: str, auto: str) -> None:
    """Before the Title box is drawn: show ``auto`` in it unless the person typed a title of their own.

    A title is typed when the box holds something other than the automatic title
    it was last given; emptying the box hands it back to the automatic one.
    """
    key, last_key = f"{prefix}_title", f"{prefix}_title_auto"
    current = st.session_state.get(key, "")
    if not str(current).strip() or current == st.session_state.get(last_key):
        st.session_state[key] = auto  # "" while there is no prompt: the box says it is made from the prompt
    st.session_state[last_key] = auto


def save_form(prefix: str, spec: dict[str, Any] | None = None) -> tuple[bool, str, list[str]]:
    """Draw the save options (on by default, title, tags); return (save, title, tags).

    The title follows the form (:func:`auto_title`) until the person types one.
    """
    hold(f"{prefix}_save", True)
    hold(f"{prefix}_title", "")
    hold(f"{prefix}_tags", "")
    follow_title(prefix, auto_title(prefix, spec))
    c1, c2, c3 = st.columns([1.5, 3, 2])
    save = c1.checkbox("Save the run", key=f"{prefix}_save")
    title = c2.text_input(
        "Title",
        key=f"{prefix}_title",
        placeholder="made from the prompt if left empty",
        help="Made from the prompt (or the example's name) until you type your own; empty it to go back.",
    )
    tags = c3.text_input("Tags", key=f"{prefix}_tags", placeholder="comma-separated, e.g. bias, v2")
    return bool(save), title, [t.strip() for t in tags.split(",") if t.strip()]


def chat_from_key(prefix: str) -> str:
    """Session-state key of the example that turned chat mode on (None once the person sets it)."""
    return f"{prefix}_chat_from"


def chat_input(prefix: str) -> bool:
    """The chat-mode checkbox; when an example turned it on, a caption says so (it never stays on silently)."""
    key = f"{prefix}_chat"
    hold(key, False)
    chat = st.checkbox(
        "Chat mode: wrap the prompt in the model's chat template",
        key=key,
        help="Use this for instruction-tuned models answering a question; the template's text is never a feature.",
        on_change=lambda: st.session_state.pop(chat_from_key(prefix), None),
    )
    source = st.session_state.get(chat_from_key(prefix))
    if chat and source:
        st.caption(
            escape_markdown(
                f"Chat mode is on because the example “{source}” uses it: the prompt is sent inside the "
                "model's chat template. Untick it to send your prompt as plain text."
            )
        )
    return bool(chat)
