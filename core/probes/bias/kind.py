"""The bias probe as a run kind: its one ``RunKind`` record (``core.kinds`` lists it)."""

from __future__ import annotations

from typing import Any

from core.probes.bias.charts import verdict_rows
from core.probes.bias.compare import compare_section
from core.probes.bias.report import bias_report
from core.probes.bias.run import BiasResult, run_bias
from core.probes.bias.spec import BiasSpec, parse_bias_spec
from core.probes.bias.work import bias_lower, bias_work
from core.run_kind import RunKind


def template_text(spec: dict[str, Any]) -> str:
    """What a bias probe asks about: its template ("" when it has none yet)."""
    template = spec.get("template")
    return template if isinstance(template, str) else ""


KIND = RunKind(
    name="bias",
    title="Bias associations",
    parse_spec=parse_bias_spec,
    run=run_bias,
    result=BiasResult,
    spec_type=BiasSpec,
    work=bias_work,
    lower=bias_lower,
    words="a bias probe",
    main_table=verdict_rows,
    asks_about=template_text,
    compare=compare_section,
    report=bias_report,
    legacy_fields=("candidates",),
)
