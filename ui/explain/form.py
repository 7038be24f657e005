"""The Explain a prompt form: a template with slots (or plain text), the output, the score and the method.

:func:`explain_form` draws the worked examples and the whole form and returns
the attribution spec (see ``core.attribution.spec``) with the check that Run calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.attribution.features import GRANULARITIES, layout_from_template, slot_name
from core.attribution.methods import METHODS
from core.attribution.presets import preset
from core.attribution.spec import FAITHFULNESS, SEED, TRIALS
from core.errors import WhyLMError
from ui.shared.errors import error_sentence
from ui.shared.links import forget_run_link, restore_from_url
from ui.shared.markdown import escape_markdown
from ui.shared.method_form import method_form, method_state
from ui.shared.model import chosen_model
from ui.shared.page_parts import spec_problem, stage_form, worked_example_picker
from ui.shared.param_inputs import param_input, widget_value
from ui.shared.spec_form import (
    chat_from_key,
    chat_input,
    example_state,
    prompt_from_rows,
    rows_from_prompt,
    score_form,
    slot_rows_state,
    slot_table,
    target_form,
    target_state,
)

PREFIX = "ex"
JOB_KEY = "ex_job"
RESULT_KEY = "ex_result"
TEMPLATE = "Template with slots"
PLAIN = "Plain text"


def load_example(prefix: str = PREFIX) -> None:
    """Button callback: fill the form with the chosen worked example (all at once, see ``stage_form``)."""
    example = preset(st.session_state[f"{prefix}_preset"])
    load_spec(example.spec_copy(), example.title, prefix)
    forget_run_link()


COMPARE_PREFIX = "cmp"
"""The keys of the page's Compare methods expander (``ui.explain.compare_action.PREFIX``)."""


def _method_name(method: Any) -> str:
    return str(method.get("name", "")) if isinstance(method, dict) else str(method)


def _compare_as_form(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A saved comparison opened on this page: its first method in the form, all of them in Compare methods."""
    methods = spec.get("methods") if isinstance(spec.get("methods"), list) else []
    perturbation = [m for m in methods if getattr(METHODS.get(_method_name(m)), "family", "") != "gradient"]
    first = perturbation[0] if perturbation else {"name": "feature_ablation"}  # the form's methods
    st.session_state[f"{COMPARE_PREFIX if prefix == PREFIX else prefix}_methods"] = [
        _method_name(m) for m in methods if _method_name(m) in METHODS
    ]
    doc = {k: v for k, v in spec.items() if k not in ("methods", "kind")}
    return {**doc, "kind": "attribution", "method": first if isinstance(first, dict) else {"name": str(first)}}


def load_spec(spec: dict[str, Any], title: str, prefix: str = PREFIX) -> None:
    """Fill the form from an attribution spec (an example or a saved run's), named ``title`` while unchanged.

    A saved comparison (kind ``compare``) fills it with its first method and picks all its methods
    under "Compare methods".
    """
    if spec.get("kind") == "compare":
        spec = _compare_as_form(spec, prefix)
    state: dict[str, Any] = {}
    prompt = spec["prompt"]
    if "template" in prompt:
        state[f"{prefix}_prompt_kind"] = TEMPLATE
        state[f"{prefix}_template"] = prompt["template"]
        state.update(slot_rows_state(prefix, rows_from_prompt(prompt)))
    else:
        state[f"{prefix}_prompt_kind"] = PLAIN
        state[f"{prefix}_text"] = prompt["text"]
        state[f"{prefix}_granularity"] = prompt.get("granularity", "word")
        state[f"{prefix}_text_baseline"] = prompt.get("baseline", "")
    state[f"{prefix}_chat"] = bool(spec.get("chat", False))
    state[chat_from_key(prefix)] = title if spec.get("chat") else None
    state.update(target_state(prefix, spec["target"]))
    state[f"{prefix}_score"] = spec.get("score", "log_prob")
    state.update(method_state(prefix, spec["method"]))
    state[f"{prefix}_trials"] = widget_value(TRIALS, spec)
    state[f"{prefix}_seed"] = widget_value(SEED, spec)
    state[f"{prefix}_faithfulness"] = widget_value(FAITHFULNESS, spec)
    state.update(example_state(prefix, title, spec))
    stage_form(prefix, state)


FILLED_KEY = f"{PREFIX}_template_filled"
"""The template with its values filled in, as last drawn (what switching to plain text starts from)."""


def _filled_text(prompt: dict[str, Any]) -> str:
    """A template prompt's text with every slot filled ("" when it cannot be laid out yet)."""
    try:
        layout = layout_from_template(prompt["template"], prompt.get("values") or {})
    except (WhyLMError, KeyError, TypeError, ValueError):
        return ""
    return layout.render([True] * len(layout.features), {})


def _carry_prompt_over() -> None:
    """Switching to plain text with an empty text box: the template's prompt, filled in, is the text.

    So the output to explain (kept from the template) still follows the prompt it was made for,
    and the run's title follows that text, not an empty prompt.
    """
    if st.session_state.get(f"{PREFIX}_prompt_kind") != PLAIN:
        return
    filled = st.session_state.get(FILLED_KEY) or ""
    if filled.strip() and not str(st.session_state.get(f"{PREFIX}_text", "")).strip():
        st.session_state[f"{PREFIX}_text"] = filled


def prompt_form() -> tuple[dict[str, Any] | None, str | None]:
    """Template (with the slot table) or plain text (with a granularity); returns (prompt, error)."""
    st.session_state.setdefault(f"{PREFIX}_prompt_kind", TEMPLATE)
    kind = st.radio(
        "Prompt",
        [TEMPLATE, PLAIN],
        key=f"{PREFIX}_prompt_kind",
        horizontal=True,
        help="A template lets you choose the parts to explain; plain text is cut into words, sentences, …",
        on_change=_carry_prompt_over,
    )
    if kind == TEMPLATE:
        st.session_state.setdefault(f"{PREFIX}_template", "")
        template = st.text_area(
            "Template",
            key=f"{PREFIX}_template",
            height=90,
            placeholder="(empty) Write your prompt here, with {slots} around the parts to explain.",
            help="Mark each part to explain with {a_name} (or {}); write {{ or }} for a literal brace.",
        )
        if not template.strip():
            st.caption("Write a template; its {slots} appear here as a table to fill in.")
            return None, "Prompt: the template is empty; write the text to explain, with {slots} to explain."
        rows, error = slot_table(PREFIX, template)
        if error:
            st.error(error_sentence_from_text(error))
            return None, None
        empty = [slot_name(r["slot"]) for r in rows or [] if not r["value"].strip()]
        if empty:
            st.warning(
                escape_markdown(f"Fill in {', '.join(empty)}: Run refuses a slot with no value."), icon="✏️"
            )
        prompt = prompt_from_rows(template, rows or [])
        st.session_state[FILLED_KEY] = _filled_text(prompt)
        return prompt, None
    st.session_state.setdefault(f"{PREFIX}_text", "")
    st.session_state.setdefault(f"{PREFIX}_granularity", "word")
    st.session_state.setdefault(f"{PREFIX}_text_baseline", "")
    text = st.text_area("Prompt text", key=f"{PREFIX}_text", height=110)
    c1, c2 = st.columns(2)
    granularity = c1.selectbox(
        "Explain it by", list(GRANULARITIES), key=f"{PREFIX}_granularity", help="How the text is cut into features."
    )
    baseline = c2.text_input(
        "Replacement for an absent part",
        key=f"{PREFIX}_text_baseline",
        help="Empty removes the part; otherwise this text stands in for it (for example 'something').",
    )
    prompt: dict[str, Any] = {"text": text, "granularity": granularity}
    if baseline:
        prompt["baseline"] = baseline
    return prompt, None


def error_sentence_from_text(text: str) -> str:
    """A SpecError text as shown ("prompt.template: ..." becomes "Prompt: ...")."""
    if text.startswith("prompt.template: "):
        return "Template: " + text[len("prompt.template: ") :]
    return text


def build_spec() -> tuple[dict[str, Any] | None, str | None]:
    """Draw the whole form; return (spec, None) or (None, a sentence saying what to fix)."""
    prompt, prompt_error = prompt_form()
    chat = chat_input(PREFIX)
    target = target_form(PREFIX, allow_contrast=True)
    score = score_form(PREFIX)
    method = method_form(PREFIX, "perturbation")
    c1, c2, c3 = st.columns(3, vertical_alignment="bottom")
    trials = param_input(TRIALS, f"{PREFIX}_trials", c1)
    seed = param_input(SEED, f"{PREFIX}_seed", c2)
    faithful = param_input(FAITHFULNESS, f"{PREFIX}_faithfulness", c3)
    if prompt is None:
        return None, prompt_error
    spec = {
        "kind": "attribution",
        "model": chosen_model(),
        "prompt": prompt,
        "chat": bool(chat),
        "target": target,
        "score": score,
        "method": method,
        "trials": trials,
        "seed": seed,
        "faithfulness": faithful,
    }
    return spec, None


def check(spec: dict[str, Any] | None, form_error: str | None) -> str | None:
    """The sentence that says what to fix in the form, or None when the spec can run."""
    if spec is None:
        return form_error
    return spec_problem(spec, error_sentence)


def explain_form() -> tuple[dict[str, Any] | None, Callable[[], str | None]]:
    """The worked examples and the whole form; returns (spec, the check Run calls)."""
    restored = restore_from_url(PREFIX, load_spec, RESULT_KEY, JOB_KEY, items=True)  # a study item's contrast
    stored = st.session_state.get(RESULT_KEY)
    if isinstance(stored, dict) and stored.get("kind") == "compare":  # a saved comparison: shown under Compare
        st.session_state[f"{COMPARE_PREFIX}_result"] = st.session_state.pop(RESULT_KEY)
        st.session_state.pop(f"{RESULT_KEY}_outcome", None)
    worked_example_picker(PREFIX, "explain", load_example, load_first=not restored)
    st.caption(preset(st.session_state[f"{PREFIX}_preset"]).description)
    spec, form_error = build_spec()
    return spec, lambda: check(spec, form_error)
