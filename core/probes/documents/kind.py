"""The document probe as a run kind: its one ``RunKind`` record (``core.kinds`` lists it)."""

from __future__ import annotations

from typing import Any

from core.probes.documents.compare import compare_section
from core.probes.documents.report import documents_report, sources_frame
from core.probes.documents.run import DocumentsResult, run_documents
from core.probes.documents.spec import DocumentSpec, parse_documents_spec
from core.probes.documents.work import documents_lower, documents_work, question_texts
from core.run_kind import RunKind


def question_text(spec: dict[str, Any]) -> str:
    """What a document probe asks about: its question ("" when it has none yet)."""
    question = spec.get("question")
    return question if isinstance(question, str) else ""


KIND = RunKind(
    name="documents",
    title="Explain an answer from a document",
    parse_spec=parse_documents_spec,
    run=run_documents,
    result=DocumentsResult,
    spec_type=DocumentSpec,
    work=documents_work,
    lower=documents_lower,
    words="a document probe",
    main_table=sources_frame,
    asks_about=question_text,
    compare=compare_section,
    report=documents_report,
    prompt_texts=question_texts,
)
