"""The document form: the document (pasted or uploaded), the question, the answer (generated, editable)
and the settings -> a document spec (``core.probes.documents.spec``).

Every setting is drawn from its declaration in ``core.probes.documents.settings``; the prompt is shown
as the model reads it (its chat template included) before Run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.errors import WhyLMError
from core.probes.documents.examples import EXAMPLE
from core.probes.documents.prompt import build_prompt
from core.probes.documents.run import generate_answer
from core.probes.documents.settings import SETTINGS
from core.probes.documents.sources import build_tree
from core.probes.documents.spec import DEFAULT_TEMPLATE, QUESTION_FIRST_TEMPLATE
from core.probes.documents.upload import read_upload, readable_types
from ui.shared.errors import error_sentence, show_error
from ui.shared.links import forget_run_link, restore_from_url
from ui.shared.model import chosen_model, current_model
from ui.shared.page_parts import apply_staged_form, spec_problem, stage_form
from ui.shared.param_inputs import param_input, widget_value
from ui.shared.spec_form import example_state
from ui.shared.widget_state import hold

PREFIX = "doc"
JOB_KEY = "doc_job"
RESULT_KEY = "doc_result"
LAYOUTS = {"document_first": DEFAULT_TEMPLATE, "question_first": QUESTION_FIRST_TEMPLATE}
LAYOUT_WORDS = {
    "document_first": "The document, then the question",
    "question_first": "The question, then the document",
}
FIELDS = {
    "document": "Document",
    "question": "Question",
    "answer": "Answer",
    "answer.text": "Answer",
    "template": "Layout",
    "passes": "Forward passes",
    "level": "Finest sources",
    "method": "Method",
}


def k(name: str) -> str:
    """Session-state key of one of this page's widgets."""
    return f"{PREFIX}_{name}"


def load_spec_state(spec: dict[str, Any], title: str | None = None) -> None:
    """Fill the whole form from a document spec (the example or a saved run's), as one change."""
    answer = spec.get("answer") if isinstance(spec.get("answer"), dict) else {}
    layout = next((name for name, t in LAYOUTS.items() if t == spec.get("template")), "document_first")
    state = {
        k("document"): spec.get("document", ""),
        k("question"): spec.get("question", ""),
        k("answer"): answer.get("text", ""),
        k("layout"): layout,
        **{k(p.name): widget_value(p, spec) for p in SETTINGS},
        **example_state(PREFIX, spec.get("title", "") if title is None else title, spec),
    }
    stage_form(PREFIX, state)


def load_example() -> None:
    """Button callback: the worked example fills the form."""
    load_spec_state(EXAMPLE)
    forget_run_link()


def apply_upload() -> None:
    """Upload callback: the file's text replaces the document (or a sentence says why it cannot)."""
    upload = st.session_state.get(k("upload"))
    if upload is None:
        return
    try:
        st.session_state[k("document")] = read_upload(upload.name, upload.getvalue())
        st.session_state[k("upload_error")] = None
    except WhyLMError as exc:
        st.session_state[k("upload_error")] = f"Document: {exc.sentence}"


def generate(spec: dict[str, Any]) -> None:
    """Button callback: the model's answer to the question fills the answer box (editable before Run)."""
    lm, refused = current_model()
    if lm is None:
        st.session_state[k("answer_error")] = refused
        return
    try:
        st.session_state[k("answer")] = generate_answer({**spec, "answer": {"generate": {}}}, lm).strip()
        st.session_state[k("answer_error")] = None
    except WhyLMError as exc:
        st.session_state[k("answer_error")] = error_sentence(exc, FIELDS)


def prompt_preview(spec: dict[str, Any]) -> None:
    """The prompt with every source, exactly as the model reads it (chat template included), and its tokens."""
    lm, _refused = current_model()
    if lm is None or not spec["document"].strip() or not spec["question"].strip():
        return
    try:
        tree = build_tree(spec["document"][:200_000], "paragraph")
        prompt = build_prompt(lm.tokenizer, tree, spec["question"], spec["template"], spec["chat"])
    except WhyLMError:
        return
    with st.expander(
        f"The prompt as the model reads it ({prompt.length:,} tokens; the model's context holds "
        f"{lm.max_context:,})"
    ):
        st.code(prompt.shown, language=None, wrap_lines=True)


def documents_form() -> tuple[dict[str, Any], Callable[[], str | None]]:
    """The example, the document, question, answer and settings; returns (spec, the check Run calls)."""
    restore_from_url(PREFIX, load_spec_state, RESULT_KEY, JOB_KEY)
    if k("document") not in st.session_state:
        load_spec_state(EXAMPLE)
    apply_staged_form(PREFIX)
    st.button("Load the worked example", key=k("load"), on_click=load_example)
    st.subheader("1. The document")
    paste, upload = st.tabs(["Paste", "Upload a file"])
    with paste:
        hold(k("document"), "")
        st.text_area(
            "Document",
            key=k("document"),
            height=220,
            help="Paragraphs are separated by a blank line; sentences are found by the project's splitter.",
        )
    with upload:
        st.file_uploader(
            f"A {', '.join(readable_types())} file",
            type=[t[1:] for t in readable_types()],
            key=k("upload"),
            on_change=apply_upload,
        )
    if st.session_state.get(k("upload_error")):
        show_error(st.session_state[k("upload_error")])
    st.subheader("2. The question and the answer")
    hold(k("question"), "")
    st.text_input("Question", key=k("question"))
    hold(k("layout"), "document_first")
    layout = st.radio("Layout", list(LAYOUTS), format_func=LAYOUT_WORDS.get, key=k("layout"), horizontal=True)
    settings = {p.name: param_input(p, k(p.name)) for p in SETTINGS if p.name == "chat"}
    base = {
        "kind": "documents",
        "model": chosen_model(),
        "document": st.session_state[k("document")],
        "question": st.session_state[k("question")],
        "template": LAYOUTS[layout],
        **settings,
    }
    hold(k("answer"), "")
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.text_area(
        "Answer to explain (generate the model's own, then edit it if you like)", key=k("answer"), height=70
    )
    c2.button("Generate", key=k("generate"), on_click=generate, args=(base,), width="stretch")
    if st.session_state.get(k("answer_error")):
        show_error(st.session_state[k("answer_error")])
    prompt_preview(base)
    st.subheader("3. How to attribute")
    cols = st.columns(3)
    for i, p in enumerate(p for p in SETTINGS if p.name != "chat"):
        settings[p.name] = param_input(p, k(p.name), cols[i % 3])
    spec = {**base, **settings, "answer": {"text": st.session_state[k("answer")]}}
    st.session_state.setdefault(k("tags"), "documents")
    return spec, lambda: spec_problem(spec, lambda exc: error_sentence(exc, FIELDS))
