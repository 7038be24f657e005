"""core.present.report: one self-contained HTML file with inline SVG charts; every user or model text escaped."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from core.errors import WhyLMError
from core.present.report import esc, report_html
from core.present.trust import faithfulness_of, faithfulness_sentence
from core.store.records import ReviewNote, RunRecord
from tests.saved_runs_support import HOSTILE, real_results

NOW = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)


def record(run_id: int, title: str, result: dict | None, kind: str = "attribution", spec: dict | None = None,
           tags: tuple[str, ...] = (), notes: tuple[ReviewNote, ...] = (), status: str = "done") -> RunRecord:
    """A RunRecord as the repository returns it."""
    return RunRecord(
        id=run_id, kind=kind, title=title, model_name="SmolLM2", model_revision=None,
        method=(result or {}).get("meta", {}).get("method"), status=status, error=None, seconds=1.0,
        created_at=NOW, tags=tags, spec=spec if spec is not None else (result or {}).get("spec", {}),
        result=result, notes=notes,
    )


class Tags(HTMLParser):
    """Collects start tags and attributes of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(text: str) -> list[tuple[str, dict]]:
    parser = Tags()
    parser.feed(text)
    return parser.tags


@pytest.fixture(scope="module")
def results(lm):
    return real_results(lm)


@pytest.fixture(scope="module")
def hostile_report(results) -> str:
    """A report of two real runs whose title, tags, notes, prompt tokens, features and output are hostile."""
    a, b, _ = copy.deepcopy(results)
    for res in (a, b):
        res["features"][0] = HOSTILE
        res["prompt_tokens"][0] = HOSTILE
        res["output_tokens"][0] = HOSTILE
        res["target"]["text"] = HOSTILE
        res["spec"]["prompt"]["template"] = HOSTILE + res["spec"]["prompt"]["template"]
    note = ReviewNote(1, 1, HOSTILE, "concern", HOSTILE, NOW)
    return report_html(
        [record(1, HOSTILE, a, tags=(HOSTILE,), notes=(note,)), record(2, "B " + HOSTILE, b)],
        title=HOSTILE,
    )


def test_hostile_text_is_escaped_everywhere(hostile_report) -> None:
    assert "<script" not in hostile_report.lower()
    assert "&lt;script&gt;" in hostile_report
    assert not [t for t, _ in parse(hostile_report) if t == "script"]
    assert not any(k.startswith("on") for _, attrs in parse(hostile_report) for k in attrs)


def test_one_svg_per_chart(hostile_report, results) -> None:
    tags = [t for t, _ in parse(hostile_report)]
    chart_blocks = re.findall(r'<div class="chart"[^>]*><svg', hostile_report)
    # per run: bar chart, heatmap and faithfulness curves; comparison of two runs: grouped bars and the difference
    assert all(r.get("faithfulness") for r in results)
    assert len(chart_blocks) == 2 * 3 + 2
    assert tags.count("svg") == len(chart_blocks)
    assert "could not be drawn" not in hostile_report


def test_the_report_is_one_file_that_fetches_nothing(hostile_report) -> None:
    for tag, attrs in parse(hostile_report):
        assert tag not in ("script", "link", "iframe", "img", "object", "embed"), tag
        for name in ("src", "href", "xlink:href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    assert "@import" not in hostile_report
    assert all(ref.startswith("#") for ref in re.findall(r"url\(\s*['\"]?([^)'\"]*)", hostile_report))
    assert hostile_report.startswith("<!DOCTYPE html>") and hostile_report.rstrip().endswith("</html>")


def test_the_report_shows_the_stored_numbers(results) -> None:
    a, b, _ = results
    text = report_html([record(7, "Tutorial", a)], chart_fn=lambda chart, label: f"[{label}]")
    assert "[bar chart]" in text and "[heatmap]" in text
    assert "Comparison" not in text, "one run has nothing to compare"
    for feature, value in zip(a["features"], a["seq_attr"]):
        assert f"<td>{feature}</td><td class=\"num\">{value:.4g}</td>" in text
    assert "Probability of the target with the full prompt" in text
    assert "[faithfulness curves]" in text
    assert esc(faithfulness_sentence(faithfulness_of(a))) in text


def test_the_report_draws_error_bars_and_says_when_an_order_is_within_the_noise(results) -> None:
    a = copy.deepcopy(results[0])
    top = sorted(range(len(a["seq_attr"])), key=lambda i: -a["seq_attr"][i])[:2]
    drawn: list = []
    a["seq_stderr"] = [0.0] * len(a["seq_attr"])
    plain = report_html([record(1, "a", a)], chart_fn=lambda chart, label: drawn.append(chart) or "")
    assert "within" not in plain and "standard errors" not in plain
    a["seq_stderr"][top[0]] = a["seq_stderr"][top[1]] = abs(a["seq_attr"][top[0]] - a["seq_attr"][top[1]]) + 1.0
    drawn.clear()
    noisy = report_html([record(1, "a", a)], chart_fn=lambda chart, label: drawn.append(chart) or "")
    assert "differ by less than 2 standard errors" in noisy
    assert "stderr" in json.dumps(drawn[0].to_dict())  # the bar chart carries the error bars


def test_partial_overlap_warns_in_the_report(results) -> None:
    a, _, c = results
    text = report_html([record(1, "a", a), record(3, "c", c)], chart_fn=lambda chart, label: "")
    assert "Run 1 lacks ‘Paris’, ‘doctor’" in text


def test_failed_and_probe_runs_are_reported() -> None:
    failed = record(1, "failed", None, status="failed")
    bias = record(2, "bias", {
        "kind": "bias", "compare": ["a", "b"], "summary": [HOSTILE + " is likelier for a."],
        "candidates": [{"text": HOSTILE, "groups": {"a": {"mean": -1.0, "ci": [-1.1, -0.9]}}, "gap": 0.4, "p_value": 0.01}],
    }, kind="bias", spec={"kind": "bias"})
    few = record(3, "few", {
        "kind": "few_shot", "summary": "Example 1 helps.",
        "examples": [{"index": 0, "input": HOSTILE, "label": "pos", "shapley": 0.3, "std": 0.1}],
        "accuracy": {"zero_shot": 0.5, "all": 1.0}, "mean_prob": {}, "best_subset": [0],
    }, kind="few_shot", spec={"kind": "few_shot"})
    text = report_html([failed, bias, few])
    assert "This run has no result (failed)" in text
    assert "<script" not in text.lower()
    # the page's reading, made from the numbers (issue 22), not the summary stored with the run
    assert "No finding" in text and "With its one example the model" in text
    assert len(re.findall(r'<div class="chart"[^>]*><svg', text)) == 2


def test_an_empty_report_is_refused() -> None:
    with pytest.raises(WhyLMError):
        report_html([])
