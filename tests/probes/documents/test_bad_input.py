"""Bad input refused with a sentence: empty fields, a document over the context, uploads that are not text."""

from __future__ import annotations

import pytest

from core.errors import SpecError, WhyLMError
from core.models.loading import LoadedModel
from core.probes.documents.prompt import fitted
from core.probes.documents.spec import DEFAULT_TEMPLATE, parse_documents_spec
from core.probes.documents.upload import MAX_UPLOAD_BYTES, read_upload

SPEC = {"kind": "documents", "document": "One. Two.", "question": "Why?", "answer": {"text": "Because."}}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"document": "  \n "}, "document", "the document is empty"),
        ({"question": ""}, "question", "the question is empty"),
        ({"answer": {"text": "   "}}, "answer.text", "the answer is empty"),
        ({"answer": {"text": "a", "generate": {}}}, "answer", "give the answer"),
        ({"template": "{document} only"}, "template", "{question}"),
        ({"level": "chapter"}, "level", "chapter"),
        ({"passes": 2}, "passes", "at least 4"),
        ({"document": "a\x00b"}, "document", "NUL"),
    ],
)
def test_bad_specs_are_refused_with_a_sentence(change: dict, field: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_documents_spec({**SPEC, **change})
    assert caught.value.field == field
    assert words in caught.value.sentence


def test_a_document_over_the_context_says_by_how_much_and_what_fits(lm: LoadedModel) -> None:
    text = " ".join(f"Sentence number {i} says something." for i in range(40))
    args = (lm.tokenizer, text, "sentence", "What?", DEFAULT_TEMPLATE, True, 5)
    tree, prompt, cut = fitted(*args, max_context=4000, truncate=False)
    assert cut == 0 and len(tree.leaves) == 40
    over = prompt.length + 5 - 200
    with pytest.raises(SpecError) as caught:
        fitted(*args, max_context=200, truncate=False)
    sentence = caught.value.sentence
    assert f"{over:,} more than this model's context of 200 tokens" in sentence
    assert (
        "the first" in sentence and "sentences (" in sentence and "attribute the part that fits" in sentence
    )
    tree, prompt, cut = fitted(*args, max_context=200, truncate=True)
    assert 0 < len(tree.leaves) < 40 and prompt.length + 5 <= 200 and cut > 0
    assert text.startswith(tree.text) and len(tree.text) + cut == len(text)


def test_uploads_that_are_not_text_are_refused() -> None:
    assert read_upload("notes.md", "\ufeffHello. World.".encode()) == "Hello. World."
    cases = [
        ("empty.txt", b"", "empty"),
        ("big.txt", b"a" * (MAX_UPLOAD_BYTES + 1), "MiB"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("latin.txt", "caf\u00e9".encode("latin-1"), "not UTF-8"),
        ("run.exe", b"MZ", "reads .txt, .md"),
        ("blank.txt", b" \n\n ", "no text"),
    ]
    for name, data, words in cases:
        with pytest.raises(WhyLMError) as caught:
            read_upload(name, data)
        assert words in caught.value.sentence, name
