"""Proof by extension: a method and a run kind added from this test module alone, no project file edited.

A toy perturbation method ("leave one in": each feature alone against the empty prompt) is
registered in ``core.attribution.methods.METHODS``; it shows in ``python -m core methods``, in the
Explain page's method choice and in the time estimate, and it runs on the bundled model.

A toy run kind ("token_count": how many tokens the model's tokenizer makes of a text) is
registered in ``core.kinds.RUN_KINDS``; it runs through ``core.engine.run``, saves, lists, opens
from ``?run=ID`` on Saved runs (drawn from its report section: it has no view of its own),
exports to the HTML report and compares with a second run, on the page and in the report.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.attribution.methods import METHODS, MethodInfo, Param
from core.attribution.perturbation import Plan, Poll, no_poll
from core.errors import SpecError, WhyLMError
from core.kinds import RUN_KINDS, forget_parsed
from core.present.compare import ComparedRun
from core.present.report_parts import ReportSection
from core.result_json import JsonResult
from core.run_kind import RunKind
from core.runs.meta import RunClock, run_meta

# ---------------------------------------------------------------- the toy method


def plan_leave_one_in(n: int, params: Any, rng: np.random.Generator, poll: Poll = no_poll) -> Plan:
    """The empty prompt, then each feature alone."""
    return Plan(np.vstack([np.zeros((1, n), bool), np.eye(n, dtype=bool)]), {})


def combine_leave_one_in(plan: Plan, values: np.ndarray, params: Any) -> np.ndarray:
    """attr[:, i] = (v({i}) - v(empty)) x scale."""
    return (values[1:] - values[0][None, :]).T * float(TOY_METHOD.setting(params, "scale"))


TOY_METHOD = MethodInfo(
    "leave_one_in",
    "Leave one in",
    "perturbation",
    "Each feature alone against the empty prompt.",
    (Param("scale", "float", 1.0, "Scale", "Multiplies every attribution.", 0.0, 10.0),),
    plan=plan_leave_one_in,
    combine=combine_leave_one_in,
    rows=lambda n, params: n + 1,
)

# ---------------------------------------------------------------- the toy kind


@dataclass(frozen=True)
class CountSpec:
    """A parsed token-count spec."""

    raw: dict[str, Any]
    text: str


def parse_count_spec(doc: dict[str, Any]) -> CountSpec:
    """A token-count spec: a model and a text (a sentence naming the field otherwise)."""
    text = doc.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SpecError("text", "give a text to count.")
    return CountSpec({"kind": "token_count", "model": doc.get("model", "default"), "text": text}, text)


@dataclass
class CountResult(JsonResult):
    """How many tokens the model makes of a text."""

    spec: dict[str, Any]
    tokens: int
    summary: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    result_kind = "token_count"
    document_name = "token count"

    @classmethod
    def spec_document(cls, doc: Any) -> dict[str, Any]:
        """The spec as run."""
        return parse_count_spec(doc).raw


def run_count(spec: Any, progress: Any = None, should_stop: Any = None, lm: Any = None, loader: Any = None) -> CountResult:
    """Count the text's tokens with the model's tokenizer."""
    spec = spec if isinstance(spec, CountSpec) else parse_count_spec(spec)
    clock = RunClock()
    lm = clock.load(spec.raw["model"], lm, loader)
    tokens = len(lm.tokenizer(spec.text, add_special_tokens=False)["input_ids"])
    return CountResult(
        kind="token_count",
        spec=spec.raw,
        tokens=tokens,
        summary=[f"The text is {tokens} tokens long."],
        meta=run_meta(lm, spec.raw["model"], "token_count", clock),
    )


def count_report(result: dict[str, Any]) -> ReportSection:
    """The count's sentence and a one-row table."""
    return ReportSection(
        sentences=[("summary", result["summary"][0])],
        tables=[("Tokens", pd.DataFrame([{"text": result["spec"]["text"], "tokens": result["tokens"]}]))],
    )


def compare_counts(runs: list[ComparedRun]) -> ReportSection:
    """Two to four counts side by side."""
    if not 2 <= len(runs) <= 4:
        raise WhyLMError("Pick two to four counts.")
    words = "; ".join(f"{run.name} has {run.result['tokens']} tokens" for run in runs)
    return ReportSection(sentences=[("summary", f"Token counts compared: {words}.")])


TOY_KIND = RunKind(
    name="token_count",
    title="Token counts",
    parse_spec=parse_count_spec,
    run=run_count,
    result=CountResult,
    spec_type=CountSpec,
    work=lambda spec: {"counting": float(len(spec.text))},
    lower=lambda doc: "shorten the text.",
    words="a token count",
    main_table=lambda result: pd.DataFrame([{"tokens": result["tokens"]}]),
    asks_about=lambda doc: str(doc.get("text", "")),
    compare=compare_counts,
    report=count_report,
)


@pytest.fixture()
def toy_method(monkeypatch: pytest.MonkeyPatch) -> MethodInfo:
    """The toy method, registered for one test."""
    monkeypatch.setitem(METHODS, TOY_METHOD.name, TOY_METHOD)
    forget_parsed()
    yield TOY_METHOD
    forget_parsed()


@pytest.fixture()
def toy_kind(monkeypatch: pytest.MonkeyPatch) -> RunKind:
    """The toy kind, registered for one test."""
    monkeypatch.setitem(RUN_KINDS, TOY_KIND.name, TOY_KIND)
    forget_parsed()
    yield TOY_KIND
    forget_parsed()


def _spec(method: dict[str, Any], values: list[str]) -> dict[str, Any]:
    return {
        "model": "default",
        "prompt": {"template": " ".join("{}" for _ in values) + " lives in", "values": values},
        "target": {"text": " Paris"},
        "method": method,
    }


# ---------------------------------------------------------------- the method's tests


def test_a_method_registered_from_a_test_is_listed_by_the_command_line(toy_method) -> None:
    from core.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["methods"])
    [line] = [line for line in out.getvalue().splitlines() if line.startswith("leave_one_in")]
    assert "perturbation" in line and "scale=1.0" in line


def test_a_registered_method_is_offered_on_the_explain_page(toy_method) -> None:
    from tests.page_support import open_page
    from ui.shared.method_form import method_key

    at = open_page("pages/explain.py", timeout=120)
    [choice] = [s for s in at.selectbox if s.key == method_key("ex")]
    assert "leave_one_in" in choice.options or "Leave one in" in choice.options


def test_a_registered_method_has_a_time_estimate_and_a_work_limit_sentence(toy_method) -> None:
    from core.runs.estimate import estimate, run_work
    from core.runs.limit import what_to_lower

    three = run_work(_spec({"name": "leave_one_in"}, ["Ann", "Bob", "Cy"]))
    six = run_work(_spec({"name": "leave_one_in"}, ["Ann", "Bob", "Cy", "Di", "Ed", "Flo"]))
    assert three is not None and six is not None and 0 < three.total < six.total
    assert estimate(_spec({"name": "leave_one_in"}, ["Ann", "Bob", "Cy"])).seconds > 0
    assert "fewer parts" in what_to_lower(_spec({"name": "leave_one_in"}, ["Ann"]))


def test_a_registered_method_runs_and_reads_its_own_settings(toy_method, lm) -> None:
    import core.engine

    one = core.engine.run(_spec({"name": "leave_one_in"}, ["Anna"]), lm=lm)
    ablation = core.engine.run(_spec({"name": "feature_ablation"}, ["Anna"]), lm=lm)
    # with one feature, "alone against empty" and "all against all but it" are the same difference
    np.testing.assert_allclose(one.seq_attr, ablation.seq_attr, atol=1e-6)
    doubled = core.engine.run(_spec({"name": "leave_one_in", "scale": 2.0}, ["Anna"]), lm=lm)
    np.testing.assert_allclose(doubled.seq_attr, 2 * np.array(one.seq_attr), atol=1e-6)
    with pytest.raises(SpecError, match="scale"):
        core.engine.validate(_spec({"name": "leave_one_in", "scale": 99}, ["Anna"]))


# ---------------------------------------------------------------- the kind's tests


def test_a_registered_kind_runs_saves_lists_reports_and_compares(toy_kind, lm, data_dir) -> None:
    import core.engine
    from core.present.report import report_html
    from core.runs.estimate import run_work
    from core.runs.saved import save_run
    from core.store import RunRepository

    assert run_work({"kind": "token_count", "text": "four"}).total == 4
    with pytest.raises(SpecError, match="text"):
        core.engine.validate({"kind": "token_count", "text": " "})
    repo = RunRepository()
    ids = []
    for text in ("The cat sat on the mat.", "A much longer sentence, with commas, than the first one was."):
        spec = {"kind": "token_count", "text": text}
        result = core.engine.run(spec, lm=lm)
        assert isinstance(result, CountResult) and result.tokens > 3
        ids.append(save_run(repo, spec, result))
    listed = {run.id: run for run in repo.list_runs()}
    assert listed[ids[0]].kind == "token_count" and listed[ids[0]].title == "The cat sat on the mat."
    records = [repo.get_run(i) for i in ids]
    one = report_html(records[:1], chart_fn=lambda chart, label: "")
    assert "tokens long." in one and "Token counts" in one
    both = report_html(records, chart_fn=lambda chart, label: "")
    assert "Token counts compared:" in both


def test_a_registered_kind_opens_and_compares_on_saved_runs(toy_kind, lm, data_dir) -> None:
    from streamlit.testing.v1 import AppTest

    import core.engine
    from core.runs.saved import save_run
    from core.store import RunRepository
    from tests.page_support import APP, no_exception

    repo = RunRepository()
    ids = [
        save_run(repo, spec, core.engine.run(spec, lm=lm))
        for spec in ({"kind": "token_count", "text": "One two."}, {"kind": "token_count", "text": "One two three four."})
    ]
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.query_params["run"] = str(ids[0])
    at.switch_page("pages/saved_runs.py").run()
    no_exception(at)
    assert any("tokens long" in box.value for box in at.main.info), [b.value for b in at.main.info]
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.query_params["compare"] = f"{ids[0]},{ids[1]}"
    at.switch_page("pages/saved_runs.py").run()
    no_exception(at)
    assert any("Token counts compared" in box.value for box in at.main.info), [b.value for b in at.main.info]
