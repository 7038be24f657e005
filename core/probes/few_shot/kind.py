"""The few-shot probe as a run kind: its one ``RunKind`` record (``core.kinds`` lists it)."""

from __future__ import annotations

from typing import Any

from core.probes.few_shot.charts import export_frame
from core.probes.few_shot.compare import compare_section
from core.probes.few_shot.report import few_shot_report
from core.probes.few_shot.run import FewShotResult, run_few_shot
from core.probes.few_shot.spec import FewShotSpec, parse_few_shot_spec
from core.probes.few_shot.work import few_shot_lower, few_shot_work
from core.run_kind import RunKind


def instruction_text(spec: dict[str, Any]) -> str:
    """What a few-shot probe asks about: its instruction, else its query format ("" when neither is given)."""
    for key in ("instruction", "query_format"):
        text = spec.get(key)
        if isinstance(text, str) and text.strip():
            return text
    return ""


KIND = RunKind(
    name="few_shot",
    title="Few-shot prompts",
    parse_spec=parse_few_shot_spec,
    run=run_few_shot,
    result=FewShotResult,
    spec_type=FewShotSpec,
    work=few_shot_work,
    lower=few_shot_lower,
    words="a few-shot probe",
    main_table=export_frame,
    asks_about=instruction_text,
    compare=compare_section,
    report=few_shot_report,
    legacy_fields=("examples",),
)
