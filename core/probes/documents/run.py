"""Run a document probe: which sources of a document the answer rests on.

The answer's score is its summed log-probability after the prompt (teacher forcing). Every
ablation is a prompt with some sources left out; all of a step's ablations go to the batched
scorer in one call, whose prefix tree runs every shared prefix once: an ablation that removes
source i reuses the key/value cache of everything before i. The scorer counts the tokens it ran
and the tokens the same rows take scored each whole.

The paragraphs are valued first; a result from them alone is handed to the progress callback
(``report_partial``) before the sentences inside the paragraphs that matter are measured, so the
page shows a first result on a long document while refinement goes on. Stop is polled before every
batch of ablations (and by the scorer between its own batches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from core.attribution.features import encode_text
from core.attribution.scorer import Progress, ShouldStop, scorer_for
from core.attribution.targets import generate_target
from core.errors import Cancelled, SpecError
from core.models.loading import LoadedModel, load_model
from core.probes.documents.check import top_k_check
from core.probes.documents.owen import TreeValues, hierarchical_values
from core.probes.documents.prompt import DocumentPrompt, build_prompt, fitted
from core.probes.documents.reading import summary_line
from core.probes.documents.sources import LEVELS, SourceTree, build_tree
from core.probes.documents.spec import MAX_OWEN_LEAVES, DocumentSpec, parse_documents_spec
from core.result_json import JsonResult
from core.runs.meta import RunClock, run_meta


@dataclass
class DocumentsResult(JsonResult):
    """What the document probe found.

    Attributes:
        spec: the spec as run (defaults filled in; a document cut to fit holds the part attributed).
        prompt: the full prompt's text, as the model reads it.
        prompt_tokens: its tokens.
        answer: the explained answer; ``answer_generated``: whether the model wrote it.
        sources: every source, in tree order: ``level``, ``parent`` (index, -1 for a paragraph),
            ``start`` / ``end`` (characters of the document), ``value`` (its attribution toward the
            answer's log-probability), ``stderr`` (0 when exact), ``refined`` (False: its share of its
            parent's value, not measured), ``method``.
        ranked: indices (into ``sources``) of the finest measured sources, highest value first.
        score_full / score_empty: the answer's log-probability with every source, and with none.
        top_k: the top-k check, one row per k (``core.probes.documents.check``).
        cut_chars: characters left out at the document's end to fit the context (0: none).
        summary: the finding in words; notes: how it was computed.
        meta: model, method, forward passes, tokens computed and whole, seconds, version.
    """

    result_kind: ClassVar[str] = "documents"
    document_name: ClassVar[str] = "WhyLM document result"

    spec: dict[str, Any]
    prompt: str
    prompt_tokens: int
    answer: str
    answer_generated: bool
    sources: list[dict[str, Any]]
    ranked: list[int]
    score_full: float
    score_empty: float
    top_k: list[dict[str, Any]]
    summary: str
    cut_chars: int = 0
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse a result whose ranking names sources it does not have."""
        if any(not 0 <= i < len(self.sources) for i in self.ranked):
            raise self.refuse(f"its ranking names sources outside the {len(self.sources)} it has")

    @classmethod
    def spec_document(cls, doc: Any) -> dict[str, Any]:
        """The spec as the probe runs it (``DocumentSpec.raw``); ``SpecError`` if it cannot run."""
        return parse_documents_spec(doc).raw


def report_partial(progress: Progress | None, result: dict[str, Any]) -> None:
    """Hand a first result (a result dict, not the final one) to the progress callback, if it shows one.

    A progress callback with a ``partial`` method (the dashboard's job: ``ui.shared.run_job``) is
    handed the dict and draws it while refinement goes on; a plain ``(done, total)`` callback, or
    none, is left alone.
    """
    partial = getattr(progress, "partial", None)
    if callable(partial):
        partial(result)


def answer_ids(lm: LoadedModel, spec: DocumentSpec, prompt: DocumentPrompt) -> tuple[list[int], str, bool]:
    """The answer's ids, its text and whether the model generated it (greedy unless the spec samples)."""
    if spec.answer_text is not None:
        ids = encode_text(lm.tokenizer, spec.answer_text)
        if not ids:
            raise SpecError("answer.text", "the answer has no tokens; write the answer to explain.")
        return ids, spec.answer_text, False
    settings = dict(spec.generate or {})
    try:
        ids = generate_target(lm, prompt.ids(), settings)
    except SpecError as exc:
        raise SpecError("answer.generate", exc.sentence) from None
    return ids, lm.tokenizer.decode(ids), True


def generate_answer(doc: Any, lm: LoadedModel) -> str:
    """The model's answer to a spec's question about its document (the page shows it, editable, before Run)."""
    spec = parse_documents_spec(
        {**doc, "answer": {"generate": (doc.get("answer") or {}).get("generate", {})}}
    )
    tokenizer = lm.tokenizer
    if not encode_text(tokenizer, spec.question):
        raise SpecError("question", "the question has no tokens; write a question.")
    max_new = int((spec.generate or {})["max_new_tokens"])
    tree, prompt, _cut = fitted(
        tokenizer,
        spec.document,
        "paragraph",
        spec.question,
        spec.template,
        spec.chat,
        max_new,
        lm.max_context,
        spec.fit == "truncate",
    )
    return answer_ids(lm, spec, prompt)[1]


def _sources(tree: Any, values: Any) -> list[dict[str, Any]]:
    out = []
    for node in range(1, len(tree.spans)):
        start, end = tree.spans[node]
        out.append(
            {
                "level": LEVELS[tree.depth[node] - 1],
                "parent": tree.parent[node] - 1,
                "start": start,
                "end": end,
                "value": float(values.values[node]),
                "stderr": float(values.stderr[node]),
                "refined": bool(values.refined[node]),
                "method": values.methods[node],
            }
        )
    return out


def run_documents(
    spec: Any,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    lm: LoadedModel | None = None,
    loader: Callable[[str], LoadedModel] = load_model,
) -> DocumentsResult:
    """Run a document probe (a spec document or a parsed ``DocumentSpec``) and return its result."""
    spec = spec if isinstance(spec, DocumentSpec) else parse_documents_spec(spec)
    clock = RunClock()
    lm = clock.load(spec.model, lm, loader)
    tokenizer = lm.tokenizer
    if not encode_text(tokenizer, spec.question):
        raise SpecError("question", "the question has no tokens; write a question.")
    if spec.answer_text is not None:
        planned = len(encode_text(tokenizer, spec.answer_text))
        if not planned:
            raise SpecError("answer.text", "the answer has no tokens; write the answer to explain.")
    else:
        planned = int((spec.generate or {})["max_new_tokens"])
    tree, prompt, cut = fitted(
        tokenizer,
        spec.document,
        spec.level,
        spec.question,
        spec.template,
        spec.chat,
        planned,
        lm.max_context,
        spec.fit == "truncate",
    )
    if spec.contexts == "owen" and len(tree.leaves) > MAX_OWEN_LEAVES:
        raise SpecError(
            "contexts",
            f"Owen contexts score every coalition: use them with at most {MAX_OWEN_LEAVES} sources "
            f"(this document has {len(tree.leaves)} {spec.level}s).",
        )
    ids, answer, generated = answer_ids(lm, spec, prompt)
    scorer = scorer_for(lm, should_stop=should_stop)
    total = spec.passes + len(spec.check) * (2 + spec.random_trials)
    scored = [0]  # prompts scored so far (the attribution's, then the check's)

    def score(masks: np.ndarray) -> np.ndarray:
        if should_stop is not None and should_stop():
            raise Cancelled()
        sums = [float(lp.sum()) for lp in scorer.log_probs([(prompt.ids(m), ids) for m in masks])]
        scored[0] += len(masks)
        if progress is not None:
            progress(min(scored[0], total), total)
        return np.array(sums)

    rng = np.random.default_rng(spec.seed)
    made = _Prepared(spec, lm, clock, tree, prompt, cut, answer, generated, scorer)

    def first_result(so_far: TreeValues) -> None:
        report_partial(progress, made.result(so_far, [], scored[0], partial=True).to_dict())

    values = hierarchical_values(
        tree, score, spec.method, spec.passes, spec.refine, spec.contexts, rng, on_level=first_result
    )
    made.attribution_tokens = (getattr(scorer, "tokens_processed", None), getattr(scorer, "tokens_whole", None))
    n = len(tree.leaves)
    leaf_values = values.values[list(tree.leaves)]
    order = sorted(range(n), key=lambda i: -leaf_values[i])
    check = top_k_check(score, values.full, order, n, spec.check, spec.random_trials, rng)
    return made.result(values, check, scored[0])


@dataclass
class _Prepared:
    """What a run has made before it attributes (the prompt, the answer, the scorer): its results are built from it."""

    spec: DocumentSpec
    lm: LoadedModel
    clock: RunClock
    tree: SourceTree
    prompt: DocumentPrompt
    cut: int
    answer: str
    generated: bool
    scorer: Any
    attribution_tokens: tuple[int | None, int | None] = (None, None)
    """Tokens the scorer ran, and would run scoring each row whole, once the attribution was done (before the check)."""

    def result(
        self, values: TreeValues, check: list[dict[str, Any]], scored: int, partial: bool = False
    ) -> DocumentsResult:
        """The result from the values so far: the final one, or (``partial``) a first one while refinement goes
        on, its ranking the measured sources with none measured under them (the paragraphs, at first)."""
        spec, tree = self.spec, self.tree
        sources = _sources(tree, values)
        if partial and values.grouped_only:  # the groups of paragraphs measured, shown on their paragraphs
            finest = list(tree.children[0])
        elif partial:
            finest = [k for k in range(1, len(tree.spans)) if values.refined[k]]
            finest = [k for k in finest if not any(values.refined[c] for c in tree.children[k])]
        else:
            finest = [k for k in tree.leaves if values.refined[k]]
        ranked = [k - 1 for k in sorted(finest, key=lambda k: (-values.values[k], tree.spans[k][0], k))]  # ties: in order
        raw = dict(spec.raw)
        if self.cut:
            raw["document"] = tree.text
        computed = getattr(self.scorer, "tokens_processed", None)
        whole = getattr(self.scorer, "tokens_whole", None)
        notes = []
        if partial and values.grouped_only:
            notes.append(
                f"First result, from {values.passes} forward passes: the document read in {len(values.groups)} groups of "
                "neighbouring paragraphs, each paragraph shown with its group's value shared by its length; the "
                "paragraphs inside the groups that matter are being measured now."
            )
        elif partial:
            deepest = max(tree.depth[k] for k in finest)
            notes.append(
                f"First result, from {values.passes} forward passes, measured down to the {LEVELS[deepest - 1]}s; "
                f"the parts inside those that matter are being measured now."
            )
        else:
            notes.append(
                f"{values.passes} forward passes for the attribution ({spec.method} at each node, {spec.contexts} "
                f"contexts), {scored - values.passes} more for the check."
            )
            if values.groups:
                notes.append(
                    f"The document was first read in {len(values.groups)} groups of neighbouring paragraphs, and the "
                    "paragraphs inside the groups that mattered, by leave-one-out; paragraphs in the other groups "
                    "show their group's value shared by their length."
                )
        attribution_computed, attribution_whole = self.attribution_tokens
        if computed and whole:
            of_attribution = ""
            if not partial and attribution_computed and attribution_whole and attribution_computed < computed:
                of_attribution = (
                    f"; the attribution's ablations alone {attribution_computed:,} against {attribution_whole:,} "
                    f"({attribution_whole / attribution_computed:.1f}x)"
                )
            notes.append(
                f"The prefix tree ran {computed:,} tokens through the model; scoring every ablation whole would "
                f"run {whole:,} ({whole / computed:.1f}x){of_attribution}."
            )
        if self.cut:
            notes.append(
                f"The document was cut to fit the model's context: its last {self.cut:,} characters were left out."
            )
        result = DocumentsResult(
            kind="documents",
            spec=raw,
            prompt=self.prompt.shown,
            prompt_tokens=self.prompt.length,
            answer=self.answer,
            answer_generated=self.generated,
            sources=sources,
            ranked=ranked,
            score_full=values.full,
            score_empty=values.empty,
            top_k=check,
            summary="",
            cut_chars=self.cut,
            notes=notes,
            meta=run_meta(
                self.lm,
                spec.model,
                spec.method,
                self.clock,
                n_features=len(tree.leaves),
                forward_passes=scored,
                attribution_passes=values.passes,
                tokens_computed=computed,
                tokens_whole=whole,
                attribution_tokens_computed=attribution_computed if not partial else computed,
                attribution_tokens_whole=attribution_whole if not partial else whole,
            ),
        )
        result.summary = summary_line(result.to_dict())
        if partial and values.grouped_only:
            result.summary = _group_line(tree, values)
        return result


def _group_line(tree: SourceTree, values: TreeValues) -> str:
    """The first result's sentence when only groups of paragraphs are measured: the group that matters most."""
    first = list(tree.children[0])
    totals = [sum(values.values[p] for p in group) for group in values.groups]
    top = max(range(len(totals)), key=lambda g: totals[g])
    group = values.groups[top]
    start = tree.source_text(group[0])
    start = start if len(start) <= 70 else start[:70].rstrip() + "…"
    return (
        f"First reading, in groups of paragraphs: the answer rests most on paragraphs {first.index(group[0]) + 1}"
        f"–{first.index(group[-1]) + 1} (from “{start}”), {totals[top]:+.2f} log-probability together."
    )


__all__ = ["DocumentsResult", "build_prompt", "build_tree", "generate_answer", "run_documents"]
