"""A document probe on the bundled model: the sentence that holds the answer comes first, and the result reads back."""

from __future__ import annotations

import pytest

from core.errors import SpecError
from core.models.loading import LoadedModel
from core.probes.documents.run import DocumentsResult, run_documents

DOCUMENT = (
    "Marrowby sits at the foot of a grey hill. A river runs past it.\n\n"
    "The bakery opens at six. The baker, Ilsa Varn, has run it for twenty years.\n\n"
    "The school has forty pupils."
)
SPEC = {
    "kind": "documents",
    "document": DOCUMENT,
    "question": "Who runs the bakery?",
    "answer": {"text": "Ilsa Varn."},
    "passes": 24,
    "check": [1, 2],
    "random_trials": 2,
}


def test_the_answer_rests_on_the_sentence_that_holds_it(lm: LoadedModel) -> None:
    result = run_documents(SPEC, lm=lm)
    top = result.sources[result.ranked[0]]
    assert DOCUMENT[top["start"] : top["end"]] == "The baker, Ilsa Varn, has run it for twenty years."
    assert top["level"] == "sentence" and top["value"] > 1.0
    one = result.top_k[0]
    assert one["k"] == 1 and one["drop"] > one["random_drop"]
    assert result.meta["attribution_passes"] <= 24
    assert 0 < result.meta["tokens_computed"] < result.meta["tokens_whole"]
    assert "<|im_start|>assistant" in result.prompt and DOCUMENT in result.prompt
    back = DocumentsResult.from_json(result.to_json())
    assert back == result
    paragraphs = [s for s in result.sources if s["level"] == "paragraph"]
    assert len(paragraphs) == 3 and "Ilsa Varn" in result.summary


def test_a_document_over_the_context_is_refused_or_cut(lm: LoadedModel) -> None:
    long = " ".join(f"Line {i} of the ledger is blank." for i in range(1400))
    spec = {
        **SPEC,
        "document": long + " The baker is Ilsa Varn.",
        "level": "paragraph",
        "passes": 4,
        "check": [],
    }
    with pytest.raises(SpecError) as caught:
        run_documents(spec, lm=lm)
    assert "more than this model's context of 8,192 tokens" in caught.value.sentence
    assert "attribute the part that fits" in caught.value.sentence


@pytest.mark.slow
def test_words_inside_the_sentence_that_matters_and_a_generated_answer(lm: LoadedModel) -> None:
    spec = {
        "kind": "documents",
        "document": "The bakery opens at six. The baker is Ilsa Varn.\n\nThe school is old.",
        "question": "Who is the baker?",
        "answer": {"generate": {"max_new_tokens": 6}},
        "level": "word",
        "passes": 24,
        "refine": 1,
        "check": [1],
        "random_trials": 1,
    }
    result = run_documents(spec, lm=lm)
    assert result.answer_generated and result.answer.strip()
    words = [s for s in result.sources if s["level"] == "word" and s["refined"]]
    assert words and {result.sources[w["parent"]]["level"] for w in words} == {"sentence"}
    parents = {w["parent"] for w in words}
    assert len(parents) == 1  # one sentence opened into its words (refine 1)
    sentence = result.sources[parents.pop()]
    assert sum(w["value"] for w in words) == pytest.approx(sentence["value"])


def test_the_example_file_is_the_page_example() -> None:
    import json
    from pathlib import Path

    from core.probes.documents.examples import EXAMPLE

    path = Path(__file__).resolve().parents[3] / "examples" / "documents_bakery.json"
    assert json.loads(path.read_text(encoding="utf-8")) == EXAMPLE
