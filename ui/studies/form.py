"""The Bias studies form: the item file (an upload or an example set), its column mapping, the models, the options.

The mapping is remembered per item type and file header for the session: a second file with the same
columns opens with the same mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.errors import WhyLMError
from core.kinds import parse
from core.models.catalog import allowed_request
from core.models.request import parse_model
from core.probes.studies.examples import example_file, file_columns
from core.probes.studies.items import FIELD_WORDS, FIELDS, ITEM_TYPES, decode
from core.probes.studies.spec import MAX_MODELS
from ui.shared.errors import error_sentence, show_error
from ui.shared.links import restore_from_url
from ui.shared.markdown import escape_markdown
from ui.shared.model import chosen_model
from ui.shared.page_parts import apply_staged_form, stage_form
from ui.shared.widget_state import hold

PREFIX = "stu"
JOB_KEY = "stu_job"
RESULT_KEY = "stu_result"
NONE = "(none)"
PICK = "(pick a column)"
TYPE_WORDS = {
    "pairs": "Minimal pairs (a more- and a less-stereotyped sentence)",
    "questions": "Questions with answer options (BBQ-style)",
    "templates": "Template rows (a template with {group}, two groups, a candidate)",
}
LOADING_PUBLIC = (
    "Public sets load as they are: CrowS-Pairs's crows_pairs_anonymized.csv as minimal pairs (its columns "
    "sent_more, sent_less, bias_type are the defaults); BBQ's JSON lines as questions once each line has a "
    "biased_answers field (lm-eval's bbq task derives it from answer_info and stereotyped_groups)."
)


SAVED_ITEMS = "stu_saved_items"
SOURCE_WORDS = {
    "saved": "The saved study's file",
    "example": "The example set (40 items, CC0)",
    "upload": "Upload a CSV or JSON-lines file",
}
RESUME_NOTE = (
    "Every finished batch is stored: a study that was stopped, or cut off by a closed browser or a restarted "
    "server, continues where it stopped when it is run again (Saved runs' Run again opens it here); no item is "
    "scored twice."
)


def k(name: str) -> str:
    """A widget key of this form."""
    return f"{PREFIX}_{name}"


def _source(item_type: str) -> tuple[str, str] | None:
    """(format, text) of the chosen items: a saved study's file, the uploaded file, or the example set of the type."""
    saved = st.session_state.get(SAVED_ITEMS)
    hold(k("source"), "saved" if saved else "example")
    source = st.radio(
        "Items", list(SOURCE_WORDS), key=k("source"), horizontal=True, format_func=SOURCE_WORDS.get
    )
    if source == "saved":
        if not saved:
            st.caption("No saved study is open here: Saved runs' Run again (or a ?from_run= link) opens one.")
            return None
        return saved
    if source == "example":
        return example_file(item_type)
    upload = st.file_uploader("Item file", type=["csv", "jsonl", "json"], key=k("file"))
    st.caption(escape_markdown(LOADING_PUBLIC))
    if upload is None:
        return None
    fmt = "csv" if upload.name.lower().endswith(".csv") else "jsonl"
    try:
        return fmt, decode(upload.getvalue())
    except WhyLMError as exc:
        show_error(error_sentence(exc))
        return None


def _mapping(item_type: str, columns: list[str]) -> tuple[dict[str, str], str | None]:
    """One picker per field, defaulting to the remembered or the default column; returns the mapping and,
    when a required field has no column yet, the sentence asking for it."""
    st.markdown("**Columns**")
    remembered = st.session_state.setdefault(k("mappings"), {})
    key = f"{item_type}:{','.join(columns)}"
    saved = remembered.get(key, {})
    out: dict[str, str] = {}
    missing: list[str] = []
    cells = st.columns(3)
    for n, (name, default, required) in enumerate(FIELDS[item_type]):
        widget_key = k(f"map_{item_type}_{name}")
        wanted = saved.get(name, default)
        label = f"{name}: {FIELD_WORDS[name]}"
        if name == "options" and default not in columns:
            picked = [c for c in wanted.split(",") if c in columns] if isinstance(wanted, str) else []
            held = st.session_state.get(widget_key)
            st.session_state[widget_key] = (
                [c for c in held if c in columns] if isinstance(held, list) else picked
            )
            value = ",".join(cells[n % 3].multiselect(label, columns, key=widget_key))
        else:
            choices = ([PICK] if required and wanted not in columns else [] if required else [NONE]) + columns
            if st.session_state.get(widget_key) not in choices:
                st.session_state[widget_key] = (
                    wanted if wanted in choices else choices[0] if choices else None
                )
            value = cells[n % 3].selectbox(label, choices, key=widget_key)
        if value == PICK:
            missing.append(f"{name} ({FIELD_WORDS[name]})")
        elif value and value != NONE:
            out[name] = value
        elif not required:
            out[name] = f"__{name}_not_given__"  # an optional field left out: no column of that name
    remembered[key] = {n: v for n, v in out.items() if not v.startswith("__")}
    if missing:
        return out, (
            f"Columns: the file has no column named for {', '.join(missing)}; pick one (its columns are "
            f"{', '.join(columns) or 'none'})."
        )
    return out, None


def _allowed(value: Any) -> tuple[Any, str | None]:
    """A typed model as this server runs it (its allowlist, ``core.models.catalog``), or the sentence refusing it."""
    try:
        request = parse_model(value, "models")
    except WhyLMError as exc:
        return None, error_sentence(exc)
    allowed, why = allowed_request(request)
    if allowed is None:
        return None, f"Other models: {why}"
    if why:
        st.caption(escape_markdown(why))
    return allowed.document(), None


def _models() -> tuple[list[Any], str | None]:
    """The sidebar's model first, then the models typed in (one per line, each checked against the allowlist)."""
    first = chosen_model()
    hold(k("others"), "")
    text = st.text_area(
        f"Other models to compare with it (one per line, at most {MAX_MODELS - 1}): hub ids or local folders "
        "the server allows, or served endpoints as name@http://host:port/v1",
        key=k("others"),
        height=80,
    )
    others: list[Any] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if "@http" in line:
            name, endpoint = line.split("@", 1)
            value, why = _allowed({"name": name.strip(), "endpoint": endpoint.strip()})
        else:
            value, why = _allowed(line)
        if why:
            return [first], why
        others.append(value)
    return [first, *others], None


def _options(item_type: str) -> dict[str, Any]:
    cells = st.columns(3)
    hold(k("normalise"), "sum")
    normalise = cells[0].selectbox(
        "Log-likelihood",
        ["sum", "per_token", "per_char"],
        key=k("normalise"),
        format_func={"sum": "summed (lm-eval's)", "per_token": "per token", "per_char": "per character"}.get,
    )
    hold(k("skip"), False)
    skip = cells[1].checkbox("Skip bad rows (and list them)", key=k("skip"))
    hold(k("bootstrap"), 1000)
    bootstrap = cells[2].number_input("Bootstrap resamples", 100, 20_000, step=100, key=k("bootstrap"))
    out = {"normalise": normalise, "skip_bad_rows": skip, "bootstrap": int(bootstrap)}
    if item_type == "questions":
        hold(k("unknown"), "lm_eval")
        out["unknown_answers"] = st.radio(
            "Can't-tell answers",
            ["lm_eval", "as_given"],
            key=k("unknown"),
            horizontal=True,
            format_func={
                "lm_eval": "lm-eval's ten (as its bbq task scores)",
                "as_given": "the file's own",
            }.get,
        )
    return out


def build_spec() -> tuple[dict[str, Any] | None, str | None]:
    """Draw the form; return (spec, None), or (None or a spec, the sentence saying what to fix)."""
    hold(k("type"), "pairs")
    item_type = st.radio("Item type", list(ITEM_TYPES), key=k("type"), format_func=TYPE_WORDS.get)
    source = _source(item_type)
    if source is None:
        return None, "Items: upload an item file (CSV or JSON lines)."
    fmt, text = source
    columns = file_columns(text, fmt)
    mapping, unmapped = _mapping(item_type, columns)
    models, refused = _models()
    spec = {
        "kind": "study",
        "item_type": item_type,
        "items": {"format": fmt, "text": text},
        "columns": mapping,
        "models": models,
        **_options(item_type),
    }
    if unmapped or refused:
        return spec, unmapped or refused
    try:
        parsed = parse(spec)
    except WhyLMError as exc:
        return spec, error_sentence(exc)
    st.caption(
        escape_markdown(f"{len(parsed.items)} items from {len(columns)} columns, on {len(models)} model(s).")
    )
    if parsed.bad:
        with st.expander(f"{len(parsed.bad)} rows skipped"):
            st.markdown("\n".join(f"- {escape_markdown(b.words())}" for b in parsed.bad))
    return spec, None


def load_spec(spec: dict[str, Any], title: str) -> None:
    """Fill the form from a saved study's spec (``?from_run=ID``, Saved runs' Run again): its file, columns,
    other models and options."""
    item_type = spec.get("item_type", "pairs")
    items = spec.get("items") or {}
    st.session_state[SAVED_ITEMS] = (items.get("format", "csv"), items.get("text", ""))
    columns = file_columns(items.get("text", ""), items.get("format", "csv"))
    state: dict[str, Any] = {k("type"): item_type, k("source"): "saved"}
    mapping = {name: default for name, default, _ in FIELDS[item_type]}
    mapping.update({n: v for n, v in (spec.get("columns") or {}).items() if not str(v).startswith("__")})
    for name, _default, required in FIELDS[item_type]:
        value = mapping[name]
        if name == "options" and value not in columns:
            state[k(f"map_{item_type}_{name}")] = [c for c in value.split(",") if c in columns]
        else:
            state[k(f"map_{item_type}_{name}")] = (
                value if value in columns else (NONE if not required else value)
            )
    models = spec.get("models") or [spec.get("model", "default")]
    lines = [
        m if isinstance(m, str) else f"{m['name']}@{m['endpoint']}" if m.get("endpoint") else m["name"]
        for m in models[1:]
    ]
    state[k("others")] = "\n".join(lines)
    state[k("normalise")] = spec.get("normalise", "sum")
    state[k("skip")] = bool(spec.get("skip_bad_rows", False))
    state[k("bootstrap")] = int(spec.get("bootstrap", 1000))
    state[k("unknown")] = spec.get("unknown_answers", "lm_eval")
    stage_form(PREFIX, state)


def study_form() -> tuple[dict[str, Any] | None, Callable[[], str | None]]:
    """The whole form (filled from a saved study when the address names one); returns (spec, the check Run calls)."""
    restore_from_url(PREFIX, load_spec, RESULT_KEY, JOB_KEY)
    apply_staged_form(PREFIX)
    spec, problem = build_spec()
    st.caption(escape_markdown(RESUME_NOTE))
    if problem and spec is not None:
        show_error(problem)
    st.session_state.setdefault(k("tags"), "study")
    return (spec if problem is None else None), lambda: problem
