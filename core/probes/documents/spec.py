"""The document probe's spec: a document, a question, the answer, the prompt's layout and how to attribute.

A spec (JSON) looks like::

    {"kind": "documents", "model": "default",
     "document": "First paragraph. Its second sentence.\\n\\nSecond paragraph.",
     "question": "What does the second paragraph say?",
     "answer": {"text": "It says ..."},          # or {"generate": {"max_new_tokens": 48}}
     "template": "Document:\\n{document}\\n\\nQuestion: {question}",   # the order of document and question
     "chat": true,                                # inside the model's chat template
     "level": "sentence",                         # paragraph, sentence or word: the finest sources
     "method": "auto",                            # auto, leave_one_out, shapley, kernel_shap, context_cite
     "passes": 64,                                # forward passes for the attribution
     "refine": 3,                                 # nodes opened per level below the paragraphs
     "contexts": "document",                      # or "owen": every coalition of the other parts
     "fit": "refuse",                             # or "truncate": attribute the part that fits the context
     "check": [1, 3, 5], "random_trials": 2, "seed": 0}
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from core.errors import SpecError
from core.models.request import parse_model
from core.probes.documents.settings import SETTINGS
from core.text import check_document, shown

DEFAULT_TEMPLATE = "Document:\n{document}\n\nQuestion: {question}"
"""The prompt's layout: the document, then the question."""
QUESTION_FIRST_TEMPLATE = "Question: {question}\n\nDocument:\n{document}"
"""The other order: the question, then the document."""
MAX_DOCUMENT_CHARS = 2_000_000
"""The longest document a spec may hold (characters); the model's context is checked when it runs."""
MAX_TEXT_CHARS = 10_000
"""The longest question or given answer (characters)."""
MAX_OWEN_LEAVES = 14
"""Owen contexts score every coalition of the other parts: allowed up to this many sources."""
DEFAULT_GENERATE = {"max_new_tokens": 48, "do_sample": False, "temperature": 1.0, "top_p": 1.0, "seed": 0}


@dataclass(frozen=True)
class DocumentSpec:
    """A validated document spec (see the module docstring); ``raw`` is the document with defaults filled in."""

    model: Any
    document: str
    question: str
    answer_text: str | None
    generate: dict[str, Any] | None
    template: str
    chat: bool
    level: str
    method: str
    passes: int
    refine: int
    contexts: str
    fit: str
    check: tuple[int, ...]
    random_trials: int
    seed: int
    raw: dict[str, Any]


def _text(doc: dict[str, Any], name: str, what: str, limit: int) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SpecError(name, f"the {what} is empty; write the {what}.")
    if len(value) > limit:
        raise SpecError(
            name, f"the {what} is {len(value):,} characters, over the {limit:,} allowed; shorten it."
        )
    if "\x00" in value:
        raise SpecError(name, f"the {what} holds a NUL character, so it is not text; paste text.")
    return value


def _answer(doc: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    raw = doc.get("answer", {"generate": {}})
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, dict) or ("text" in raw) == ("generate" in raw):
        raise SpecError("answer", 'give the answer as {"text": "..."} or ask for {"generate": {}}.')
    if "text" in raw:
        text = raw["text"]
        if not isinstance(text, str) or not text.strip():
            raise SpecError(
                "answer.text", "the answer is empty; write the answer to explain or generate one."
            )
        if len(text) > MAX_TEXT_CHARS:
            raise SpecError("answer.text", f"the answer is over {MAX_TEXT_CHARS:,} characters; shorten it.")
        return text, None
    settings = raw["generate"] if isinstance(raw["generate"], dict) else {}
    unknown = sorted(set(settings) - set(DEFAULT_GENERATE))
    if unknown:
        raise SpecError("answer.generate", f"{shown(unknown[0])} is not a generation setting.")
    merged = {**DEFAULT_GENERATE, **settings}
    tokens = merged["max_new_tokens"]
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= 512:
        raise SpecError("answer.generate.max_new_tokens", "give a whole number of new tokens from 1 to 512.")
    return None, merged


def _template(doc: dict[str, Any]) -> str:
    template = doc.get("template", DEFAULT_TEMPLATE)
    if (
        not isinstance(template, str)
        or template.count("{document}") != 1
        or template.count("{question}") != 1
    ):
        raise SpecError("template", "the layout must hold {document} and {question} once each.")
    return template


def _check(doc: dict[str, Any]) -> tuple[int, ...]:
    raw = doc.get("check", [1, 3, 5])
    if not isinstance(raw, list) or not all(
        isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 50 for k in raw
    ):
        raise SpecError("check", "give the top-k check's k as whole numbers from 1 to 50, e.g. [1, 3, 5].")
    return tuple(sorted(set(raw)))


def parse_documents_spec(doc: Any) -> DocumentSpec:
    """The validated spec of a document probe (``SpecError``, with a sentence, when it cannot run)."""
    check_document(doc)
    if not isinstance(doc, dict):
        raise SpecError("", "the spec must be a JSON object.")
    if doc.get("kind", "documents") != "documents":
        raise SpecError("kind", "a document probe's kind is 'documents'.")
    parse_model(doc.get("model", "default"))
    document = _text(doc, "document", "document", MAX_DOCUMENT_CHARS)
    question = _text(doc, "question", "question", MAX_TEXT_CHARS)
    answer_text, generate = _answer(doc)
    settings = {p.name: p.read(doc) for p in SETTINGS}
    spec = DocumentSpec(
        model=doc.get("model", "default"),
        document=document,
        question=question,
        answer_text=answer_text,
        generate=generate,
        template=_template(doc),
        check=_check(doc),
        raw={},
        **settings,
    )
    raw = copy.deepcopy(doc)
    raw.update(
        kind="documents",
        model=spec.model,
        template=spec.template,
        check=list(spec.check),
        answer={"text": answer_text} if answer_text is not None else {"generate": generate},
        **settings,
    )
    object.__setattr__(spec, "raw", raw)
    return spec
