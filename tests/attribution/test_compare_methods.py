"""The compare kind: several methods on one prompt share one scorer; each distinct prompt is scored once."""

from __future__ import annotations

import pytest

import core.attribution.scorer as scorer_module
from core.attribution.comparison import CompareResult, parse_compare_spec, rank_agreement
from core.engine import run
from core.errors import SpecError
from core.present.method_comparison import methods_bar_chart, methods_table
from ui.explain.compare_action import GRADIENT_PAGE_METHODS

SPEC = {
    "kind": "compare",
    "model": "default",
    "prompt": {"template": "{} lives in {}, {} and is a {}. {} personal interests include",
               "values": ["Dave", "Palm Coast", "FL", "lawyer", "His"]},
    "target": {"text": "playing golf, hiking, and cooking."},
    "methods": ["feature_ablation", "shapley", {"name": "kernel_shap", "n_samples": 12},
                {"name": "saliency"}],
}


@pytest.fixture(scope="module")
def compared(lm, request) -> tuple[CompareResult, list[tuple]]:
    scored: list[tuple] = []
    original = scorer_module.BatchedScorer.log_probs

    def spy(self, rows):
        scored.extend((tuple(p), tuple(t)) for p, t in rows)
        return original(self, rows)

    mp = pytest.MonkeyPatch()
    mp.setattr(scorer_module.BatchedScorer, "log_probs", spy)
    try:
        result = run(SPEC, lm=lm)
    finally:
        mp.undo()
    return result, scored


@pytest.mark.slow
def test_each_distinct_prompt_is_scored_once(compared) -> None:
    result, scored = compared
    assert len(scored) == len(set(scored))  # no prompt went to the model twice
    perturbation = [r for r in result.rows if r["name"] != "saliency"]
    assert sum(r["forward_passes"] for r in perturbation) == len(scored)
    assert result.forward_passes_shared < result.forward_passes_alone
    shapley = next(r for r in result.rows if r["name"] == "shapley")
    assert shapley["alone_passes"] >= 32 and shapley["forward_passes"] < 32  # ablation's prompts reused


def test_the_table_ranks_agreement_with_exact_shapley(compared) -> None:
    result, _ = compared
    shapley = next(r for r in result.rows if r["name"] == "shapley")
    assert shapley["spearman"] == pytest.approx(1.0) and shapley["kendall"] == pytest.approx(1.0)
    for row in result.rows:
        assert row["aopc_deletion"] is not None and row["seconds"] >= 0
    assert any(r["method"] in result.sentence for r in result.rows)
    assert all(len(r["seq_attr"]) == len(result.features) == 5 for r in result.results)
    table = methods_table(result.to_dict())
    assert list(table["Method"]) == ["feature_ablation", "shapley", "kernel_shap", "saliency"]
    assert methods_bar_chart(result.to_dict()).to_dict()["layer"][0]["mark"]["type"] == "bar"
    assert CompareResult.from_json(result.to_json()).rows == result.rows


def test_compare_specs_are_checked() -> None:
    with pytest.raises(SpecError, match=r"methods\[1\]"):
        parse_compare_spec({**SPEC, "methods": ["lime", {"name": "lime", "n_samples": 0}]})
    with pytest.raises(SpecError, match="twice"):
        parse_compare_spec({**SPEC, "methods": ["lime", {"name": "lime"}]})
    spec = parse_compare_spec(SPEC)
    assert parse_compare_spec(spec.raw).raw == spec.raw
    assert spec.runs[3].params["aggregate"] == "feature"
    assert rank_agreement([1, 2, 3], [3, 2, 1]) == (pytest.approx(-1.0), pytest.approx(-1.0))


def test_the_explain_page_action_builds_the_compare_spec() -> None:
    from ui.explain.compare_action import compare_problem, compare_spec

    page_spec = {k: v for k, v in SPEC.items() if k not in ("kind", "methods")}
    page_spec.update(method={"name": "lime"}, faithfulness=False)
    doc = compare_spec(page_spec, ["feature_ablation", "lime"])
    assert doc["kind"] == "compare" and "method" not in doc and "faithfulness" not in doc
    assert compare_problem(doc, None) is None
    assert compare_problem(doc, "Fix the template.") == "Fix the template."
    assert "methods" in compare_problem(compare_spec(page_spec, []), None)


def test_the_token_gradients_page_compares_its_gradient_methods_with_perturbation(data_dir, lm) -> None:
    """The Token gradients page has its own comparison: gradient methods summed to words beside feature
    ablation and exact Shapley, on the page's prompt and target, with rank agreement and a named winner."""
    from tests.page_support import no_exception, open_page

    at = open_page("pages/token_gradients.py", 300)
    at.button(key="tg_load").click().run()
    assert at.multiselect(key="tgcmp_methods").value == list(GRADIENT_PAGE_METHODS)
    at.multiselect(key="tgcmp_methods").set_value(["input_x_gradient", "feature_ablation", "shapley"]).run()
    at.button(key="tgcmp_run").click().run(timeout=300)
    no_exception(at)
    result = at.session_state["tgcmp_result"]
    assert result["spec"]["prompt"]["text"] == "The capital of France is"
    rows = {row["method"]: row for row in result["rows"]}
    assert set(rows) == {"input_x_gradient", "feature_ablation", "shapley"}
    assert rows["feature_ablation"]["spearman"] is not None
    assert "cmp_result" not in at.session_state  # the Explain page's comparison is kept apart
    assert any("faithfully" in i.value for i in at.info)
