"""The few-shot probe: which examples of a few-shot prompt help the model answer right.

Following Miglani et al. (2023, arXiv 2312.05491, section 4.2): every example
of the prompt is a feature (the instruction optionally one more); the value of
a coalition of examples, for one query, is the probability of the query's
expected label, renormalised over the label set. Shapley values over the
examples say how much each one raises or lowers that probability.

Cost: exact Shapley evaluates all 2^n coalitions per query; every prompt x
label row goes to the batched scorer in ONE call, which de-duplicates rows and
computes the key/value cache of shared prefixes once. From those coalition
values the accuracy tables (zero-shot, all examples, each leave-one-out, the
best subset) come at no extra model cost. Above ``max_exact`` features the
probe switches to Shapley sampling over random feature orders.

The order-sensitivity check scores ``order_trials`` seeded random orders of
all examples in the same scorer call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from core.attribution.features import chat_wrapping, encode_prompts, encode_text
from core.attribution.methods.shapley import combine_shapley
from core.attribution.methods.shapley_sampling import combine_shapley_sampling, plan_shapley_sampling
from core.attribution.perturbation import (
    Plan,
    StopPoll,
    all_masks,
    in_chunks,
    mask_ints,
    polled,
)
from core.attribution.prefix_tree import prefix_tree_tokens
from core.attribution.scorer import Progress, ShouldStop, scorer_for
from core.errors import SpecError
from core.models.loading import LoadedModel, load_model
from core.probes.few_shot import reading, subset
from core.probes.few_shot.settings import method_reason
from core.probes.few_shot.spec import (
    FewShotSpec,
    few_shot_presets,
    load_examples_csv,
    load_pairs_csv,
    load_queries_csv,
    longest_query,
    parse_few_shot_spec,
)
from core.result_json import JsonResult
from core.runs.meta import RunClock, run_meta

__all__ = [
    "FewShotResult",
    "FewShotSpec",
    "few_shot_presets",
    "load_examples_csv",
    "load_pairs_csv",
    "load_queries_csv",
    "parse_few_shot_spec",
    "prompt_text",
    "run_few_shot",
]


@dataclass
class FewShotResult(JsonResult):
    """What the few-shot probe found (all probabilities are renormalised over the label set).

    Attributes:
        kind: "few_shot".
        format: the document's format (``core.result_json.RESULT_FORMAT``).
        spec: the spec document as run (defaults filled in).
        labels: the label set.
        examples: one entry per example, in prompt order: ``index`` (0-based),
            ``input``, ``label``, ``shapley`` (mean over queries of the Shapley
            value toward the right label's probability), ``std`` (spread across
            queries), ``per_query`` (one value per query, for a heatmap),
            ``shapley_log_prob`` (the same toward the right label's log-probability),
            ``prob_without`` / ``accuracy_without`` (leave this example out).
        instruction: the same fields for the instruction when it is a feature, else None.
        queries: one entry per query: ``input``, ``label``, and per table row
            (zero_shot, all, best_subset) the right label's probability
            (``prob_*``), its log-probability (``log_prob_*``, not renormalised)
            and the predicted label (``predicted_*``); ``prob_none`` is the
            empty coalition (the efficiency reference).
        accuracy: share of queries whose most likely label is the expected one:
            ``zero_shot``, ``all``, ``best_subset``, ``leave_one_out`` (list per
            example) and, when the instruction is a feature, ``without_instruction``.
        mean_prob: the mean probability of the right label, same keys.
        mean_log_prob: the mean log-probability of the right label, same keys.
        best_subset: example indices of the best coalition (highest mean
            right-label probability; ties: higher accuracy, then fewer examples).
        order_sensitivity: ``orders`` (example index lists), ``accuracy`` (one per
            order), ``mean_prob`` (one per order), ``mean``, ``min``, ``max``.
        subset_check: how the best-subset choice generalises (``core.probes.few_shot.subset``):
            leave-one-query-out ``accuracy`` and ``mean_prob``, the subsets ``chosen`` without each
            query, how many are the ``same`` as on all queries, and ``within`` (per chosen example,
            the subset's right-label probability minus without it); None with one query or in a
            result saved before it existed.
        summary: the findings in plain words.
        notes: how the numbers were computed (exact or sampled Shapley, cost).
        meta: model name and revision, method, forward passes, seconds, version.
    """

    result_kind: ClassVar[str] = "few_shot"
    document_name: ClassVar[str] = "WhyLM few-shot result"

    spec: dict[str, Any]
    labels: list[str]
    examples: list[dict[str, Any]]
    instruction: dict[str, Any] | None
    queries: list[dict[str, Any]]
    accuracy: dict[str, Any]
    mean_prob: dict[str, Any]
    mean_log_prob: dict[str, Any]
    best_subset: list[int]
    order_sensitivity: dict[str, Any]
    summary: str
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    subset_check: dict[str, Any] | None = None

    def check(self) -> None:
        """Refuse a result without labels, or whose best subset names examples it does not have."""
        if not self.labels:
            raise self.refuse("its labels are empty")
        if any(not 0 <= i < len(self.examples) for i in self.best_subset):
            raise self.refuse(f"its best_subset names examples outside the {len(self.examples)} it has")

    @classmethod
    def upgrade(cls, doc: dict[str, Any], version: int) -> dict[str, Any]:
        """A result saved before a setting existed: its spec gets the setting's default (``normalise``: "sum",
        what it ran with; no number changes). A spec that no longer validates is kept as it was."""
        if isinstance(doc.get("spec"), dict) and "normalise" not in doc["spec"]:
            try:
                doc["spec"] = cls.spec_document(doc["spec"])
            except SpecError:
                pass
        return doc

    @classmethod
    def spec_document(cls, doc: Any) -> dict[str, Any]:
        """The few-shot spec as the probe runs it (``FewShotSpec.raw``); ``SpecError`` if it cannot run."""
        return parse_few_shot_spec(doc).raw


# ---------------------------------------------------------------- prompts



def prompt_text(
    spec: FewShotSpec,
    order: Sequence[int],
    query: int,
    instruction: bool = True,
    tokenizer: Any = None,
) -> str:
    """The full text given to the model before the label (chat-wrapped in chat mode).

    Args:
        spec: the parsed spec.
        order: indices of the examples present, in the order written.
        query: index of the query.
        instruction: whether the instruction is written.
        tokenizer: needed in chat mode (for its chat template).
    """
    user = spec.user_text(order, query, instruction)
    if not spec.chat:
        return user
    if tokenizer is None:
        raise ValueError("chat mode needs the tokenizer")
    prefix, suffix = chat_wrapping(tokenizer)
    return prefix + user + suffix


def picked_labels(logp: np.ndarray, spec: FewShotSpec, label_ids: list[list[int]]) -> np.ndarray:
    """The label the model picks per prompt: the highest summed log-probability, or per token or per
    character of the label (``spec.normalise``; lm-eval's acc and acc_norm). Ties go to the first label."""
    if spec.normalise == "per_token":
        return (logp / np.array([len(ids) for ids in label_ids], dtype=float)).argmax(axis=1)
    if spec.normalise == "per_char":
        return (logp / np.array([max(len(lab), 1) for lab in spec.labels], dtype=float)).argmax(axis=1)
    return logp.argmax(axis=1)


def _label_ids(spec: FewShotSpec, tokenizer: Any) -> list[list[int]]:
    ids = [encode_text(tokenizer, spec.label_text(lab)) for lab in spec.labels]
    for lab, toks in zip(spec.labels, ids):
        if not toks:
            raise SpecError("labels", f"the label '{lab}' has no tokens; write it as text.")
    seen: dict[tuple[int, ...], str] = {}
    for lab, toks in zip(spec.labels, ids):
        key = tuple(toks)
        if key in seen:
            raise SpecError(
                "labels", f"the labels '{seen[key]}' and '{lab}' read as the same tokens; make them differ."
            )
        seen[key] = lab
    return ids


# ---------------------------------------------------------------- the run


def _coalition_order(code: int, n_examples: int) -> list[int]:
    return [i for i in range(n_examples) if (code >> i) & 1]


def _plan(spec: FewShotSpec, poll: Callable[[], None] | None = None) -> tuple[Plan, str, list[int], list[int], list[list[int]]]:
    """The run's coalitions: (plan, method, the plan's codes, every code scored sorted, order trials).

    Codes: bit i = example i present, bit n_examples = the instruction (when it is a feature).
    Sorted codes write the examples in the prompt's order, so coalitions that share their first
    examples share a prefix of the prompt (the scorer's prefix tree runs it once).
    """
    n_ex, nf = len(spec.examples), spec.n_features
    instr_bit = (1 << n_ex) if spec.include_instruction_as_feature else 0
    full_code = (1 << nf) - 1
    table_codes = [instr_bit, full_code] + [full_code & ~(1 << i) for i in range(n_ex)]
    if spec.include_instruction_as_feature:
        table_codes += [0, full_code & ~instr_bit]
    if spec.uses_exact:
        plan = Plan(all_masks(nf), {})
        method = "exact_shapley"
    else:
        rng = np.random.default_rng([spec.seed, 2])
        plan = plan_shapley_sampling(nf, {"n_samples": spec.n_samples}, rng, poll=poll or (lambda: None))
        method = "shapley_sampling"
    plan_codes = mask_ints(plan.masks)  # exact for any number of examples
    codes = sorted(set(plan_codes) | set(table_codes))
    order_rng = np.random.default_rng([spec.seed, 1])
    orders = [[int(i) for i in order_rng.permutation(n_ex)] for _ in range(spec.order_trials)]
    return plan, method, plan_codes, codes, orders


def computed_tokens_estimate(spec: FewShotSpec, tokens: Callable[[str], float]) -> float:
    """Tokens the prefix-tree scorer will run for this spec, with ``tokens(text)`` the tokens of a text.

    The prompts are laid out as pieces (instruction, examples, queries) and counted by
    ``core.attribution.prefix_tree.prefix_tree_tokens``: each distinct prefix of coalitions once,
    each query once per coalition; labels of more than one token add their tokens but the last.
    """
    _plan_, _method, _codes, codes, orders = _plan(spec)
    n_ex = len(spec.examples)
    instr_bit = 1 << n_ex if spec.include_instruction_as_feature else 0
    instruction = tokens(spec.instruction.rstrip() + "\n\n") if spec.instruction.strip() else 0.0
    sizes = [instruction] + [tokens(spec.example_format.format(input=e.input, label=e.label)) for e in spec.examples]
    rows = [
        ([0] if not instr_bit or code & instr_bit else []) + [1 + i for i in _coalition_order(code, n_ex)]
        for code in codes
    ]
    rows += [[0, *(1 + i for i in order)] for order in orders]
    queries = sum(tokens(spec.query_format.format(input=q.input)) for q in spec.queries)
    labels = sum(max(tokens(spec.label_text(lab)) - 1, 0) for lab in spec.labels)
    prompts = len(rows) * len(spec.queries)
    return prefix_tree_tokens([r for r in rows if r], sizes) + len(rows) * queries + prompts * labels


def run_few_shot(
    spec_doc: dict[str, Any] | FewShotSpec,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    lm: LoadedModel | None = None,
    loader: Callable[[str], LoadedModel] = load_model,
) -> FewShotResult:
    """Run the few-shot probe on a spec document and return its result.

    Args:
        spec_doc: a few-shot spec (see ``core.probes.few_shot.spec``).
        progress: called with (rows scored, rows total) after each batch.
        should_stop: polled between batches; True stops the run (``Cancelled``).
        lm: an already loaded model (otherwise loaded by ``loader(spec.model)``).
        loader: loads a model by name.
    """
    clock = RunClock()
    spec = spec_doc if isinstance(spec_doc, FewShotSpec) else parse_few_shot_spec(spec_doc)
    lm = clock.load(spec.model, lm, loader)
    with lm.lock.job():  # the model is taken batch by batch (core.models.sharing)
        result = _run(spec, lm, progress, should_stop, clock)
    return result


def _check_context(prompt_tokens: int, label_ids: list[list[int]], lm: LoadedModel) -> None:
    """Refuse, with a sentence, a prompt that cannot fit the model's context with its longest label."""
    longest = prompt_tokens + max(len(t) for t in label_ids)
    if longest > lm.max_context:
        raise SpecError(
            "examples",
            f"the longest few-shot prompt is {longest} tokens, more than this model's context of "
            f"{lm.max_context}; use fewer or shorter examples.",
        )


@dataclass
class _Scored:
    """A few-shot run's scores: every distinct prompt's label log-probabilities, laid out by coalition and query.

    Attributes:
        plan / method / plan_codes: the Shapley plan (exact or sampled), its name and its rows' coalition codes.
        codes: every scored coalition (bit i: example i; the instruction's bit when it is a feature);
            ``row``: code -> its row in ``coal_text``.
        orders: the shuffled orders scored for order sensitivity.
        coal_text / order_text: the prompt index of each (coalition, query) and (order, query).
        logp / probs / predicted: per prompt, the labels' log-probabilities, their renormalised probabilities
            and the picked label.
        prob_right / logp_right / correct: per (coalition, query), the right label's probability and
            log-probability, and whether it was picked.
        prompts: how many distinct prompts were scored; scorer: the scorer (its counts go in ``meta``).
    """

    plan: Plan
    method: str
    plan_codes: list[int]
    codes: list[int]
    row: dict[int, int]
    orders: list[list[int]]
    coal_text: np.ndarray
    order_text: np.ndarray
    logp: np.ndarray
    probs: np.ndarray
    predicted: np.ndarray
    prob_right: np.ndarray
    logp_right: np.ndarray
    correct: np.ndarray
    prompts: int
    scorer: Any

    def table(self, code: int) -> tuple[float, float, float]:
        """A coalition's accuracy, mean right-label probability and mean log-probability over the queries."""
        r = self.row[code]
        return float(self.correct[r].mean()), float(self.prob_right[r].mean()), float(self.logp_right[r].mean())


def _score(
    spec: FewShotSpec, lm: LoadedModel, progress: Progress | None, should_stop: ShouldStop | None, expected: np.ndarray
) -> _Scored:
    """Plan the coalitions and orders, write and encode every distinct prompt once, and score its labels."""
    tokenizer = lm.tokenizer
    n_ex, n_q = len(spec.examples), len(spec.queries)
    instr_bit = (1 << n_ex) if spec.include_instruction_as_feature else 0
    label_ids = _label_ids(spec, tokenizer)
    poll = StopPoll(should_stop)  # planning hears Stop too, not only the scorer
    prefix, suffix = chat_wrapping(tokenizer) if spec.chat else ("", "")
    # The longest prompt first: one that cannot fit the context is refused before any other is written.
    full = prefix + spec.user_text(range(n_ex), longest_query(spec)) + suffix
    _check_context(len(encode_prompts(tokenizer, [full], spec.chat)[0]), label_ids, lm)

    plan, method, plan_codes, codes, orders = _plan(spec, poll)
    texts: dict[str, int] = {}

    def text_index(order: Sequence[int], query: int, instruction: bool) -> int:
        text = prefix + spec.user_text(order, query, instruction) + suffix
        return texts.setdefault(text, len(texts))

    coal_text = np.array(
        [
            [text_index(_coalition_order(c, n_ex), q, not instr_bit or bool(c & instr_bit)) for q in range(n_q)]
            for c in polled(codes, poll)
        ]
    ).reshape(len(codes), n_q)
    order_text = np.array(
        [[text_index(o, q, True) for q in range(n_q)] for o in polled(orders, poll)], dtype=int
    ).reshape(len(orders), n_q)
    prompt_list = list(texts)
    prompt_ids = in_chunks(lambda part: encode_prompts(tokenizer, part, spec.chat), prompt_list, poll)
    _check_context(max(len(p) for p in prompt_ids), label_ids, lm)

    scorer = scorer_for(lm, progress=progress, should_stop=should_stop)
    logp = scorer.summed_log_probs(prompt_ids, label_ids)
    # Renormalise over the label set (log-sum-exp for stability).
    top = logp.max(axis=1, keepdims=True)
    probs = np.exp(logp - top)
    probs /= probs.sum(axis=1, keepdims=True)
    predicted = picked_labels(logp, spec, label_ids)
    return _Scored(
        plan, method, plan_codes, codes, {c: r for r, c in enumerate(codes)}, orders, coal_text, order_text,
        logp, probs, predicted,
        prob_right=probs[coal_text, expected[None, :]],  # coalitions x queries
        logp_right=logp[coal_text, expected[None, :]],
        correct=predicted[coal_text] == expected[None, :],
        prompts=len(prompt_list),
        scorer=scorer,
    )


def _best_subset(spec: FewShotSpec, scored: _Scored, instr_bit: int) -> tuple[int, dict[str, Any] | None]:
    """The best subset among scored coalitions with the instruction written (``core.probes.few_shot.subset``),
    and how that choice does on queries it was not chosen on (leave one query out)."""
    n_ex = len(spec.examples)
    candidates = [c for c in scored.codes if not instr_bit or c & instr_bit]
    rows = [scored.row[c] for c in candidates]
    sizes = [bin(c & ~instr_bit).count("1") for c in candidates]
    prob_right, correct = scored.prob_right[rows], scored.correct[rows]
    best_code = candidates[subset.choose(candidates, prob_right, correct, sizes)]
    subset_check = subset.cross_validate(candidates, prob_right, correct, sizes, lambda c: _coalition_order(c, n_ex))
    if subset_check is not None:
        subset_check["within"] = subset.within_subset(
            best_code,
            _coalition_order(best_code, n_ex),
            lambda c: float(scored.prob_right[scored.row[c]].mean()) if c in scored.row else None,
        )
    return best_code, subset_check


def _accuracy_tables(
    spec: FewShotSpec, scored: _Scored, named: dict[str, int], instr_bit: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Accuracy, mean probability and mean log-probability of the right label: for the named coalitions,
    each example left out, and without the instruction (when it is a feature)."""
    n_ex = len(spec.examples)
    full_code = (1 << spec.n_features) - 1
    accuracy: dict[str, Any] = {}
    mean_prob: dict[str, Any] = {}
    mean_log_prob: dict[str, Any] = {}
    for key, code in named.items():
        accuracy[key], mean_prob[key], mean_log_prob[key] = scored.table(code)
    loo = [scored.table(full_code & ~(1 << i)) for i in range(n_ex)]
    accuracy["leave_one_out"] = [t[0] for t in loo]
    mean_prob["leave_one_out"] = [t[1] for t in loo]
    mean_log_prob["leave_one_out"] = [t[2] for t in loo]
    if instr_bit:
        accuracy["without_instruction"], mean_prob["without_instruction"], mean_log_prob["without_instruction"] = (
            scored.table(full_code & ~instr_bit)
        )
    return accuracy, mean_prob, mean_log_prob


def _query_entries(spec: FewShotSpec, scored: _Scored, named: dict[str, int]) -> list[dict[str, Any]]:
    """Per query: the right label's probability and log-probability and the picked label for each named
    coalition, with no example, and every label's probability with all of them."""
    full_code = (1 << spec.n_features) - 1
    queries = []
    none_row = scored.row[0]
    for q, item in enumerate(spec.queries):
        entry: dict[str, Any] = {"index": q, "input": item.input, "label": item.label}
        for key, code in named.items():
            r = scored.row[code]
            entry[f"prob_{key}"] = float(scored.prob_right[r, q])
            entry[f"log_prob_{key}"] = float(scored.logp_right[r, q])
            entry[f"predicted_{key}"] = spec.labels[int(scored.predicted[scored.coal_text[r, q]])]
        entry["prob_none"] = float(scored.prob_right[none_row, q])
        entry["label_probs_all"] = {
            lab: float(p) for lab, p in zip(spec.labels, scored.probs[scored.coal_text[scored.row[full_code], q]])
        }
        queries.append(entry)
    return queries


def _order_sensitivity(scored: _Scored, expected: np.ndarray) -> dict[str, Any]:
    """Accuracy and mean right-label probability of each shuffled order, and their mean, least and most."""
    orders = scored.orders
    order_acc = [float((scored.predicted[scored.order_text[k]] == expected).mean()) for k in range(len(orders))]
    order_prob = [float(scored.probs[scored.order_text[k], expected].mean()) for k in range(len(orders))]
    return {
        "orders": orders,
        "accuracy": order_acc,
        "mean_prob": order_prob,
        "mean": float(np.mean(order_acc)) if orders else None,
        "min": float(np.min(order_acc)) if orders else None,
        "max": float(np.max(order_acc)) if orders else None,
    }


def _run(
    spec: FewShotSpec,
    lm: LoadedModel,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    clock: RunClock,
) -> FewShotResult:
    n_ex, n_q = len(spec.examples), len(spec.queries)
    nf = spec.n_features
    instr_bit = (1 << n_ex) if spec.include_instruction_as_feature else 0
    full_code = (1 << nf) - 1
    expected = np.array([spec.label_index(q.label) for q in spec.queries])
    scored = _score(spec, lm, progress, should_stop, expected)
    scorer, codes = scored.scorer, scored.codes

    plan_rows = np.array([scored.row[c] for c in scored.plan_codes])
    combine = combine_shapley if spec.uses_exact else combine_shapley_sampling
    attr = combine(scored.plan, scored.prob_right[plan_rows], {})  # queries x features
    attr_log = combine(scored.plan, scored.logp_right[plan_rows], {})

    best_code, subset_check = _best_subset(spec, scored, instr_bit)
    named = {"zero_shot": instr_bit, "all": full_code, "best_subset": best_code}
    accuracy, mean_prob, mean_log_prob = _accuracy_tables(spec, scored, named, instr_bit)

    def feature_entry(j: int) -> dict[str, Any]:
        return {
            "shapley": float(attr[:, j].mean()),
            "std": float(attr[:, j].std()),
            "per_query": [float(v) for v in attr[:, j]],
            "shapley_log_prob": float(attr_log[:, j].mean()),
        }

    examples = []
    for i, ex in enumerate(spec.examples):
        entry = {"index": i, "input": ex.input, "label": ex.label, **feature_entry(i)}
        entry["prob_without"] = mean_prob["leave_one_out"][i]
        entry["accuracy_without"] = accuracy["leave_one_out"][i]
        examples.append(entry)
    instruction = None
    if instr_bit:
        instruction = {"text": spec.instruction, **feature_entry(n_ex)}
        instruction["prob_without"] = mean_prob["without_instruction"]
        instruction["accuracy_without"] = accuracy["without_instruction"]
    queries = _query_entries(spec, scored, named)
    order_sensitivity = _order_sensitivity(scored, expected)

    best_subset = _coalition_order(best_code, n_ex)
    notes = _notes(spec, scored.method, len(codes), scored.prompts, scored.logp.size, scorer.forward_passes)
    summary = reading.summary(
        {
            "examples": examples,
            "instruction": instruction,
            "queries": queries,
            "accuracy": accuracy,
            "mean_prob": mean_prob,
            "best_subset": best_subset,
            "order_sensitivity": order_sensitivity,
            "subset_check": subset_check,
        }
    )
    meta = run_meta(
        lm,
        spec.model,
        scored.method,
        clock,
        n_examples=n_ex,
        n_queries=n_q,
        n_features=nf,
        coalitions=len(codes),
        prompts=scored.prompts,
        rows=scored.logp.size,
        forward_passes=scorer.forward_passes,
        model_calls=scorer.model_calls,
        tokens_processed=scorer.tokens_processed,
        tokens_whole=getattr(scorer, "tokens_whole", scorer.tokens_processed),
        method_reason=method_reason(spec.method, nf, spec.max_exact, spec.n_samples),
    )
    return FewShotResult(
        kind="few_shot",
        spec=spec.raw,
        labels=list(spec.labels),
        examples=examples,
        instruction=instruction,
        queries=queries,
        accuracy=accuracy,
        mean_prob=mean_prob,
        mean_log_prob=mean_log_prob,
        best_subset=best_subset,
        order_sensitivity=order_sensitivity,
        summary=summary,
        notes=notes,
        meta=meta,
        subset_check=subset_check,
    )


def _notes(spec: FewShotSpec, method: str, n_coalitions: int, n_prompts: int, n_rows: int, passes: int) -> list[str]:
    nf = spec.n_features
    what = f"{nf} features ({len(spec.examples)} examples and the instruction)" if spec.include_instruction_as_feature else f"{nf} examples"
    notes = []
    if method == "exact_shapley":
        notes.append(
            f"Exact Shapley values over {what}: all {2**nf:,} coalitions for each of the "
            f"{len(spec.queries)} queries."
        )
    else:
        why = (
            f"{what} is more than max_exact = {spec.max_exact}, so "
            if spec.method == "auto"
            else ""
        )
        notes.append(
            f"{why}Shapley values are estimated by Shapley sampling over {spec.n_samples} random orders of the "
            f"features ({n_coalitions:,} distinct coalitions per query); the best subset is the best of those "
            "coalitions, not of all of them."
        )
    notes.append(
        f"{n_prompts:,} distinct prompts x {len(spec.labels)} labels = {n_rows:,} rows scored in one batched "
        f"call ({passes:,} distinct rows evaluated); the accuracy tables reuse these values at no extra model cost."
    )
    notes.append(
        "Probabilities are renormalised over the label set "
        f"({', '.join(repr(spec.label_text(lab)) for lab in spec.labels)} scored after the prompt); "
        "Shapley values are in probability of the right label (1 point = 0.01)."
    )
    if spec.order_trials:
        notes.append(f"Order sensitivity: {spec.order_trials} random orders of all examples (seed {spec.seed}).")
    return notes
