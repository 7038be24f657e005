"""A document result's report section, CSV table and comparison, from a result written by hand."""

from __future__ import annotations

import copy

import pytest

from core.errors import WhyLMError
from core.kinds import RUN_KINDS
from core.present.compare import ComparedRun

DOCUMENT = "Alpha one. Alpha two.\n\nBeta one."


def result(top: float = 2.0) -> dict:
    sources = [
        {
            "level": "paragraph",
            "parent": -1,
            "start": 0,
            "end": 21,
            "value": top + 0.5,
            "stderr": 0.0,
            "refined": True,
            "method": "shapley",
        },
        {
            "level": "paragraph",
            "parent": -1,
            "start": 23,
            "end": 32,
            "value": -0.4,
            "stderr": 0.0,
            "refined": True,
            "method": "shapley",
        },
        {
            "level": "sentence",
            "parent": 0,
            "start": 0,
            "end": 10,
            "value": 0.5,
            "stderr": 0.2,
            "refined": True,
            "method": "kernel_shap",
        },
        {
            "level": "sentence",
            "parent": 0,
            "start": 11,
            "end": 21,
            "value": top,
            "stderr": 0.3,
            "refined": True,
            "method": "kernel_shap",
        },
        {
            "level": "sentence",
            "parent": 1,
            "start": 23,
            "end": 32,
            "value": -0.4,
            "stderr": 0.0,
            "refined": False,
            "method": "",
        },
    ]
    return {
        "kind": "documents",
        "format": 1,
        "spec": {"document": DOCUMENT, "question": "Which alpha?", "level": "sentence", "method": "auto"},
        "prompt": DOCUMENT,
        "prompt_tokens": 20,
        "answer": "Two.",
        "answer_generated": False,
        "sources": sources,
        "ranked": [3, 2],
        "score_full": -1.0,
        "score_empty": -4.0,
        "top_k": [
            {
                "k": 1,
                "without_top": -3.0,
                "only_top": -1.5,
                "drop": 2.0,
                "random_drop": 0.7,
                "random_spread": 0.1,
            }
        ],
        "summary": "The answer rests most on Alpha two.",
        "cut_chars": 0,
        "notes": ["note"],
        "meta": {"attribution_passes": 10},
    }


def test_report_section_ranks_sources_with_error_bars() -> None:
    kind = RUN_KINDS["documents"]
    section = kind.report(result())
    assert section.sentences[0] == ("summary", "The answer rests most on Alpha two.")
    top = dict(section.tables)["Top sources"]
    assert list(top["text"]) == ["Alpha two.", "Alpha one."] and list(top["± stderr"]) == [0.3, 0.2]
    assert section.charts[0][1] is not None
    table = kind.main_table(result())
    assert len(table) == 5 and list(table["measured"]) == [True, True, True, True, False]
    assert kind.result.from_dict(result()).ranked == [3, 2]


def test_compare_lines_up_the_same_document_and_refuses_one_run() -> None:
    kind = RUN_KINDS["documents"]
    runs = [ComparedRun(1, "a", result(2.0)), ComparedRun(2, "b", result(-1.0))]
    section = kind.compare(runs)
    tables = dict(section.tables)
    assert list(tables["Runs"]["drop@1"]) == [2.0, 2.0]
    shared = tables["The sources with the largest values in any run"]
    assert shared.iloc[0]["text"] == "Alpha two." and list(shared.iloc[0][["Run 1", "Run 2"]]) == [2.0, -1.0]
    other = copy.deepcopy(result())
    other["spec"]["document"] = "Something else entirely."
    assert kind.compare([runs[0], ComparedRun(3, "c", other)]).sentences[0][0] == "warning"
    with pytest.raises(WhyLMError):
        kind.compare(runs[:1])
