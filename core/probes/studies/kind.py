"""The bias study as a run kind: its one ``RunKind`` record (``core.kinds`` lists it)."""

from __future__ import annotations

from typing import Any

from core.probes.studies.compare import compare_section
from core.probes.studies.contrast import item_contrast
from core.probes.studies.report import study_report
from core.probes.studies.run import StudyResult, forget_study_batches, run_study, study_progress_words
from core.probes.studies.spec import StudySpec, parse_study_spec
from core.probes.studies.tables import items_table
from core.probes.studies.work import study_lower, study_work
from core.run_kind import RunKind


def study_asks_about(spec: dict[str, Any]) -> str:
    """What a study asks about, for its saved title: its item type and the number of lines of its file."""
    items = spec.get("items")
    text = items.get("text") if isinstance(items, dict) else None
    if not isinstance(text, str):
        return ""
    return f"{spec.get('item_type', 'pairs')} study, {max(len(text.strip().splitlines()) - 1, 0)} rows"


KIND = RunKind(
    name="study",
    title="Bias studies",
    parse_spec=parse_study_spec,
    run=run_study,
    result=StudyResult,
    spec_type=StudySpec,
    work=study_work,
    lower=study_lower,
    words="a bias study",
    main_table=items_table,
    asks_about=study_asks_about,
    compare=compare_section,
    report=study_report,
    progress_words=study_progress_words,
    after_save=forget_study_batches,
    item_spec=item_contrast,
)
