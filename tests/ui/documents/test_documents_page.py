"""The document page under AppTest: the example runs and is saved, the view escapes text, bad input is a sentence."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from core.probes.documents.examples import EXAMPLE
from core.store import RunRepository
from tests.page_support import draw_stored, main_errors, no_exception, open_page

TIMEOUT = 240


@pytest.mark.slow
def test_the_example_runs_shades_the_document_and_is_saved(data_dir, lm) -> None:
    at = open_page("pages/documents.py", TIMEOUT)
    assert at.text_area(key="doc_document").value == EXAMPLE["document"]
    at.selectbox(key="doc_passes").set_value(16).run()
    at.number_input(key="doc_random_trials").set_value(1).run()
    assert not main_errors(at)
    at.button(key="doc_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not main_errors(at)
    result = at.session_state["doc_result"]
    top = result["sources"][result["ranked"][0]]
    assert (
        EXAMPLE["document"][top["start"] : top["end"]] == "The baker, Ilsa Varn, has run it for twenty years."
    )
    assert any("Ilsa Varn" in i.value for i in at.info)
    html = "".join(h.proto.body for h in at.get("html"))
    assert "rgba(43, 108, 176" in html  # the top sentence shaded blue
    runs = RunRepository().list_runs()
    assert [(r.kind, r.status) for r in runs] == [("documents", "done")]


def test_bad_input_is_a_sentence(data_dir) -> None:
    at = open_page("pages/documents.py", TIMEOUT)
    at.text_input(key="doc_question").input("   ").run()
    at.button(key="doc_run").click().run()
    assert any("Question" in e and "empty" in e for e in main_errors(at))
    at.file_uploader(key="doc_upload").upload("scan.txt", b"\x00\x01\x02binary", "text/plain").run()
    assert any("not text" in e for e in main_errors(at))


def test_view_escapes_model_and_document_text(tmp_path) -> None:
    document = "<script>alert(1)</script> One. **Two** sentence.\n\nThird <b>para</b>."
    result = {
        "kind": "documents",
        "format": 1,
        "spec": {"document": document, "question": "<i>q</i>?", "level": "sentence", "method": "auto"},
        "prompt": "<|im_start|>user\n" + document,
        "prompt_tokens": 30,
        "answer": "<img src=x onerror=1>",
        "answer_generated": True,
        "sources": [
            {
                "level": "paragraph",
                "parent": -1,
                "start": 0,
                "end": 49,
                "value": 1.0,
                "stderr": 0.0,
                "refined": True,
                "method": "shapley",
            },
            {
                "level": "paragraph",
                "parent": -1,
                "start": 51,
                "end": 69,
                "value": -0.5,
                "stderr": 0.0,
                "refined": True,
                "method": "shapley",
            },
            {
                "level": "sentence",
                "parent": 0,
                "start": 0,
                "end": 30,
                "value": 0.2,
                "stderr": 0.1,
                "refined": True,
                "method": "leave_one_out",
            },
            {
                "level": "sentence",
                "parent": 0,
                "start": 31,
                "end": 49,
                "value": 0.8,
                "stderr": 0.1,
                "refined": True,
                "method": "leave_one_out",
            },
            {
                "level": "sentence",
                "parent": 1,
                "start": 51,
                "end": 69,
                "value": -0.5,
                "stderr": 0.0,
                "refined": False,
                "method": "",
            },
        ],
        "ranked": [3, 2],
        "score_full": -1.0,
        "score_empty": -9.0,
        "top_k": [],
        "summary": "<b>bold</b> finding",
        "cut_chars": 0,
        "notes": [],
        "meta": {},
    }
    at = draw_stored("ui.documents.view", "show_documents_result", result, tmp_path)
    html = "".join(h.proto.body for h in at.get("html"))
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>para" not in html
    assert "rgba(197, 48, 48" in html  # the paragraph that works against the answer, red
    cells = [str(v) for t in at.table for v in t.value.to_numpy().ravel()]  # static tables read cells as Markdown
    assert any("\\*\\*Two\\*\\*" in c for c in cells) and not any("**Two**" in c for c in cells)


def _draw_partial(path: str) -> None:
    """AppTest script: a first result stored at ``path`` drawn as the page draws it while a run goes on."""
    import json as _json

    from ui.documents.view import show_documents_partial

    with open(path, encoding="utf-8") as handle:
        show_documents_partial(_json.load(handle))


def test_the_first_result_is_drawn_escaped(tmp_path) -> None:
    result = {
        "kind": "documents",
        "spec": {"document": "<b>One</b> [x](http://a). Two.\n\nThree.", "level": "sentence"},
        "sources": [
            {"level": "paragraph", "parent": -1, "start": 0, "end": 31, "value": 2.0, "stderr": 0.1,
             "refined": True, "method": "leave_one_out"},
            {"level": "paragraph", "parent": -1, "start": 33, "end": 39, "value": -1.0, "stderr": 0.1,
             "refined": True, "method": "leave_one_out"},
            {"level": "sentence", "parent": 0, "start": 0, "end": 26, "value": 1.0, "stderr": 0.05,
             "refined": False, "method": ""},
        ],
        "ranked": [0, 1],
        "summary": "The answer rests most on the paragraph \u201c<b>One</b> [x](http://a).\u201d",
        "notes": ["First result, from 4 forward passes, measured down to the paragraphs; ..."],
    }
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(result), encoding="utf-8")
    at = AppTest.from_function(_draw_partial, args=(str(path),), default_timeout=60).run()
    no_exception(at)
    html = "".join(h.proto.body for h in at.get("html"))
    assert "&lt;b&gt;One" in html and "<b>" not in html and "rgba(43, 108, 176" in html
    assert 'title="+2.000 ± 0.100"' in html  # shaded by paragraph, the finest level measured
    assert any("\\[x\\]" in i.value for i in at.info) and "First result" in at.markdown[0].value
