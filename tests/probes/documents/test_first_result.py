"""A first result after the paragraph pass: handed to the progress callback before any sentence is measured,
with the paragraphs' final values; Stop between passes ends the run there."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.errors import Cancelled
from core.models.loading import LoadedModel
from core.probes.documents.owen import hierarchical_values
from core.probes.documents.run import run_documents
from core.probes.documents.sources import build_tree
from tests.probes.documents.test_run import SPEC

SMALL = {**SPEC, "passes": 12, "check": []}
"""Three paragraphs, five sentences: the paragraphs by leave-one-out, then the sentences of the two that matter."""


class Recorder:
    """A progress callback that shows first results: every call, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def __call__(self, done: int, total: int) -> None:
        self.events.append(("progress", done))

    def partial(self, result: dict[str, Any]) -> None:
        """A first result (what ``ui.shared.run_job`` draws while the run goes on)."""
        self.events.append(("partial", result))


def test_levels_are_handed_over_before_the_next_is_measured() -> None:
    tree = build_tree("A one. A two.\n\nB one. B two. B three.\n\nC one.", "word")
    table = np.random.default_rng(0).normal(size=2 ** len(tree.leaves))
    asked: list[int] = []

    def value(masks: np.ndarray) -> np.ndarray:
        asked.append(len(masks))
        return table[masks.astype(np.int64) @ (1 << np.arange(masks.shape[1]))]

    seen = []
    final = hierarchical_values(
        tree, value, "auto", 200, 2, on_level=lambda v: seen.append((sum(asked), v))
    )
    assert [tree.depth[k] for k in range(len(tree.spans)) if seen[0][1].refined[k]] == [0, 1, 1, 1]
    assert len(seen) == 2  # after the paragraphs, after the sentences; nothing after the words
    (at_first, first), (at_second, second) = seen
    assert first.passes == at_first < at_second < final.passes
    paragraphs = list(tree.children[0])
    np.testing.assert_array_equal(first.values[paragraphs], final.values[paragraphs])
    for p in paragraphs:  # a paragraph not yet opened hands its value to its sentences, by leaves
        assert sum(first.values[c] for c in tree.children[p]) == pytest.approx(first.values[p])


def test_the_paragraph_result_comes_before_the_sentence_pass(lm: LoadedModel) -> None:
    recorder = Recorder()
    result = run_documents(SMALL, lm=lm, progress=recorder).to_dict()
    kinds = [kind for kind, _ in recorder.events]
    assert kinds.count("partial") == 1
    at = kinds.index("partial")
    first = recorder.events[at][1]
    done_before = [d for kind, d in recorder.events[:at] if kind == "progress"]
    assert done_before[-1] == first["meta"]["attribution_passes"] == first["meta"]["forward_passes"]
    assert any(kind == "progress" and d > done_before[-1] for kind, d in recorder.events[at:])  # then refined
    paragraphs = [i for i, s in enumerate(result["sources"]) if s["level"] == "paragraph"]
    assert [first["sources"][i]["value"] for i in paragraphs] == [result["sources"][i]["value"] for i in paragraphs]
    assert not any(s["refined"] for s in first["sources"] if s["level"] == "sentence")
    assert {first["sources"][i]["level"] for i in first["ranked"]} == {"paragraph"}
    top = first["sources"][first["ranked"][0]]
    assert "Ilsa Varn" in SPEC["document"][top["start"] : top["end"]] and "paragraph" in first["summary"]
    assert first["top_k"] == [] and first["notes"][0].startswith("First result, from")


def test_stop_after_the_paragraph_pass_ends_the_run(lm: LoadedModel) -> None:
    recorder = Recorder()
    stop = lambda: any(kind == "partial" for kind, _ in recorder.events)  # noqa: E731
    with pytest.raises(Cancelled):
        run_documents(SMALL, lm=lm, progress=recorder, should_stop=stop)
    kinds = [kind for kind, _ in recorder.events]
    assert kinds[-1] == "partial"  # nothing was scored after Stop


LONG = {
    **SMALL,
    "document": "\n\n".join(
        [f"Street {i} has a row of {i + 3} houses. Its lamps are green." for i in range(8)]
        + ["The bakery opens at six. The baker, Ilsa Varn, has run it for twenty years."]
        + [f"Lane {i} ends at the river. Its gate is old." for i in range(3)]
    ),
    "passes": 24,
}
"""Twelve paragraphs: read first in four groups of three, the bakery's in the third."""


def test_a_long_document_shows_its_groups_of_paragraphs_first(lm: LoadedModel) -> None:
    recorder = Recorder()
    result = run_documents(LONG, lm=lm, progress=recorder).to_dict()
    partials = [r for kind, r in recorder.events if kind == "partial"]
    first = partials[0]
    assert first["meta"]["attribution_passes"] == 4 + 2
    assert "4 groups of neighbouring paragraphs" in first["notes"][0]
    assert {first["sources"][i]["level"] for i in first["ranked"]} == {"paragraph"}
    assert not any(s["refined"] for s in first["sources"])
    top = first["sources"][first["ranked"][0]]
    assert top["start"] >= LONG["document"].index("Street 6")  # a paragraph of the bakery's group
    assert first["summary"].startswith("First reading, in groups of paragraphs: the answer rests most on paragraphs 7\u20139")
    best = result["sources"][result["ranked"][0]]
    assert LONG["document"][best["start"] : best["end"]] == "The baker, Ilsa Varn, has run it for twenty years."
    assert any("first read in 4 groups" in note for note in result["notes"])
