"""The prefix-tree scorer: the same numbers as scoring each row whole, bounded memory, Stop and turns per batch.

A small random Llama (mechanics) and the bundled model (the product's numbers).
The tree itself (``core.attribution.prefix_tree``) is checked on its own for
every read landing where its row needs it, and at 5,000 features (the old
recursive planner failed from about 400).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import LlamaConfig, LlamaForCausalLM

import core.attribution.scorer as scorer_module
import core.engine
from core.attribution.prefix_tree import build_tree, computed_tokens, prefix_tree_tokens, row_inputs
from core.attribution.scorer import BatchedScorer
from core.errors import Cancelled
from core.models.loading import LoadedModel
from core.models.sharing import ModelShare, WorkLimitExceeded, work_limit
from core.probes.few_shot.settings import few_shot_cost, uses_exact
from core.probes.few_shot.spec import few_shot_presets

ROOT = Path(__file__).resolve().parents[2]
VOCAB = 11


def _direct(model: torch.nn.Module, prompt, target) -> np.ndarray:
    """Each target token's log-probability from one plain forward over the whole row."""
    with torch.no_grad():
        logits = model(torch.tensor([list(prompt) + list(target)])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    return np.array([lp[len(prompt) - 1 + j, t].item() for j, t in enumerate(target)])


def _tiny(lock=None) -> LoadedModel:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
    )
    model = LlamaForCausalLM(cfg).eval()
    return LoadedModel("tiny", "tiny", "random", model, None, torch.device("cpu"), lock or threading.RLock())


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    """A small random Llama over an 11-token vocabulary (short ids share prefixes often)."""
    return _tiny()


# ---------------------------------------------------------------- the tree alone


def _context(tree, index: int) -> tuple[int, ...]:
    """The tokens up to a chain's end: its parents' up to where it branches off, then its own."""
    parts = []
    while index >= 0:
        chain = tree.chains[index]
        parts.append(chain)
        index = chain.parent
    out: tuple[int, ...] = ()
    for chain in reversed(parts):
        out = out[: chain.start] + chain.tokens
    return out


def _check_tree(rows: list[tuple[int, tuple[int, ...]]]) -> None:
    tree = build_tree(rows)
    reads: dict[int, list] = {}
    for chain in tree.chains:
        assert chain.parent < chain.index  # parents before children
        context = _context(tree, chain.index)
        for read in chain.reads:
            position = chain.start + read.offset
            prompt_len, seq = rows[read.row]
            assert context[: position + 1] == seq[: position + 1]  # the read sees exactly its row's tokens
            assert read.token == seq[position + 1]
            reads.setdefault(read.row, []).append(read.k)
    for row, (prompt_len, seq) in enumerate(rows):
        assert sorted(reads[row]) == list(range(len(seq) - prompt_len))  # every target token read once
    assert sum(c.finishing for c in tree.chains) == len(rows)
    inputs = row_inputs([(seq[:p], seq[p:]) for p, seq in rows])
    assert tree.computed_tokens == prefix_tree_tokens(inputs) <= sum(len(i) for i in inputs)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 2), min_size=1, max_size=7),
                          st.lists(st.integers(0, 2), min_size=1, max_size=3)), min_size=1, max_size=25))
def test_every_read_sees_its_rows_tokens(raw) -> None:
    rows = list(dict.fromkeys((len(p), tuple(p + t)) for p, t in raw))
    _check_tree(rows)


def test_the_tree_plans_5000_features_without_recursion() -> None:
    """Feature ablation over 5,000 one-token words: 5,001 rows (the old planner recursed per feature)."""
    n = 5000
    words = list(range(1000, 1000 + n))
    rows = [(n, (*words, 7))] + [(n - 1, (*words[:k], *words[k + 1 :], 7)) for k in range(n)]
    tree = build_tree(rows)
    assert len(tree.chains) == n  # the prompt with every word, and one branch per removed word but the last
    assert max(c.generation for c in tree.chains) == 1
    assert tree.computed_tokens == n + sum(n - 1 - k for k in range(n - 1))
    assert tree.whole_tokens == (n + 1) + n * n


# ---------------------------------------------------------------- the scorer on a small random model

_row = st.tuples(
    st.lists(st.integers(1, VOCAB - 1), min_size=1, max_size=9),
    st.lists(st.integers(1, VOCAB - 1), min_size=1, max_size=4),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shared=st.lists(st.integers(1, VOCAB - 1), min_size=0, max_size=12),
    rows=st.lists(st.tuples(st.integers(0, 12), _row), min_size=1, max_size=14),
    budget=st.sampled_from([0.02, 0.2, 64.0]),
    extend=st.booleans(),
)
def test_tree_scores_equal_whole_rows(tiny, shared, rows, budget, extend) -> None:
    """Random tries: shared and unshared prefixes, one-token nodes, rows that are prefixes of rows, any target length."""
    built = [(shared[:cut] + prompt, target) for cut, (prompt, target) in rows]
    if extend:  # a row that continues another row's prompt and target (its prompt + target is a prefix of this one)
        prompt, target = built[0]
        built.append((prompt + target, [3, 5]))
        built.append((prompt, target[:1]))
    scorer = BatchedScorer(tiny, memory_budget_mb=budget)
    scorer.whole_when_cheaper = False  # the tree's mechanics, however small the tree
    got = scorer.log_probs(built)
    for (prompt, target), values in zip(built, got):
        np.testing.assert_allclose(values, _direct(tiny.model, prompt, target), atol=1e-5, rtol=0)
    assert scorer.tokens_processed == computed_tokens(dict.fromkeys((tuple(p), tuple(t)) for p, t in built))
    assert scorer.peak_cache_bytes <= scorer.budget_bytes


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(_row, min_size=1, max_size=4),
    later=st.lists(st.tuples(st.integers(0, 14), _row), min_size=1, max_size=10),
    budget=st.sampled_from([0.02, 64.0]),
)
def test_later_calls_start_from_the_cache_held_from_the_first(tiny, first, later, budget) -> None:
    """The first call's longest row keeps its cache; a later call's rows start from it where they share its tokens
    (any cut: inside a chain, at a branch, up to a row's first read), with the same numbers as whole rows."""
    scorer = BatchedScorer(tiny, memory_budget_mb=budget)
    scorer.whole_when_cheaper = False
    scorer.log_probs(first)
    longest = max(first, key=lambda row: len(row[0]) + len(row[1]))
    head = list(longest[0]) + list(longest[1])
    built = [(head[:cut] + prompt, target) if cut else (prompt, target) for cut, (prompt, target) in later]
    before = scorer.tokens_processed
    got = scorer.log_probs(built)
    for (prompt, target), values in zip(built, got):
        np.testing.assert_allclose(values, _direct(tiny.model, prompt, target), atol=1e-5, rtol=0)
    alone = computed_tokens(dict.fromkeys((tuple(p), tuple(t)) for p, t in built))
    assert scorer.tokens_processed - before <= alone


def test_a_held_cache_saves_the_shared_document_in_later_calls(tiny) -> None:
    """Leave-one-out over the end of a long prompt, after the whole prompt was scored: only what follows each
    removal is run again."""
    rng = np.random.default_rng(7)
    doc = rng.integers(1, VOCAB, size=200).tolist()
    scorer = BatchedScorer(tiny)
    scorer.log_probs([(doc, [3, 4]), (doc[:5], [3, 4])])
    rows = [(doc[:k] + doc[k + 10 :], [3, 4]) for k in range(150, 200, 10)]
    before = scorer.tokens_processed
    got = scorer.log_probs(rows)
    assert scorer.tokens_processed - before < computed_tokens(rows) - 140
    for row, values in zip(rows, got):
        np.testing.assert_allclose(values, _direct(tiny.model, *row), atol=1e-5, rtol=0)


def test_many_features_score_without_recursion(tiny) -> None:
    """Feature ablation over 600 one-token words: the old planner raised RecursionError from about 400."""
    n = 600
    rng = np.random.default_rng(0)
    words = rng.integers(1, VOCAB, size=n).tolist()
    rows = [(words, [5])] + [(words[:k] + words[k + 1 :], [5]) for k in range(n)]
    scorer = BatchedScorer(tiny)
    got = scorer.log_probs(rows)
    for k in (0, 1, 300, n):
        np.testing.assert_allclose(got[k], _direct(tiny.model, *rows[k]), atol=1e-5, rtol=0)
    assert scorer.tokens_processed < scorer.tokens_whole / 1.8


def _branching_rows(rng: np.random.Generator, leaves: int) -> list[tuple[list[int], list[int]]]:
    """Rows of a deep, bushy tree: 8 binary choices of 6-token pieces, then a query."""
    pieces = [rng.integers(1, VOCAB, size=6).tolist() for _ in range(16)]
    rows = []
    for code in range(leaves):
        prompt = [1]
        for bit in range(8):
            prompt += pieces[2 * bit + ((code >> bit) & 1)]
        rows.append((prompt + [code % 7 + 1], [2]))
    return rows


def test_cache_memory_stays_within_the_budget(tiny) -> None:
    """However many rows, the caches held stay under the budget (caches are released once their subtree has run).

    The budget must hold one path of chains (about 240 tokens here, 61 KB): below that the
    deepest chain still runs alone.
    """
    budget_mb = 0.1
    peaks = []
    for leaves in (64, 256):
        scorer = BatchedScorer(tiny, memory_budget_mb=budget_mb)
        rows = _branching_rows(np.random.default_rng(1), leaves)
        got = scorer.log_probs(rows)
        np.testing.assert_allclose(got[-1], _direct(tiny.model, *rows[-1]), atol=1e-5, rtol=0)
        assert 0 < scorer.peak_cache_bytes <= budget_mb * 2**20
        peaks.append(scorer.peak_cache_bytes)
    held_everything = computed_tokens(rows) * BatchedScorer(tiny).cache_bytes_per_token()
    assert peaks[1] < held_everything / 4  # far less than keeping every cache


class _CountingShare(ModelShare):
    """A model share that counts the turns asked for (a first acquire, then one checkpoint per batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def acquire(self, should_stop=None) -> None:
        self.asked += 1
        super().acquire(should_stop)

    def checkpoint(self, should_stop=None) -> None:
        self.asked += 1
        super().checkpoint(should_stop)


def test_stop_and_the_fair_queue_act_between_batches_of_chains() -> None:
    share = _CountingShare()
    lm = _tiny(share)
    rows = _branching_rows(np.random.default_rng(2), 128)
    scorer = BatchedScorer(lm, memory_budget_mb=0.05)
    scorer.log_probs(rows)
    assert scorer.model_calls > 5 and share.asked == scorer.model_calls  # a turn before every batch
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 3

    stopped = BatchedScorer(lm, memory_budget_mb=0.05, should_stop=stop)
    with pytest.raises(Cancelled):
        stopped.log_probs(rows)
    assert stopped.model_calls == 3  # three batches ran, the fourth was stopped before it started


def test_the_work_limit_counts_the_tokens_the_tree_computes(tiny) -> None:
    """50 rows sharing a 200-token prompt cost about 2 whole rows: under a limit of 10 passes; whole rows are refused."""
    rng = np.random.default_rng(3)
    shared = rng.integers(1, VOCAB, size=200).tolist()
    rows = [(shared + [int(a), int(b)], [3]) for a, b in rng.integers(1, VOCAB, size=(60, 2))]
    rows = list(dict.fromkeys((tuple(p), tuple(t)) for p, t in rows))
    with work_limit(10, "lower it."):
        BatchedScorer(tiny).log_probs(rows)
    with work_limit(10, "lower it."), pytest.raises(WorkLimitExceeded, match="lower it"):
        BatchedScorer(tiny, share_prefix=False).log_probs(rows)


# ---------------------------------------------------------------- the bundled model, each run kind's example


@pytest.mark.slow
@pytest.mark.parametrize("example", ["tutorial", "few_shot_sentiment", "bias_gender_occupation"])
def test_each_examples_rows_score_as_whole_rows_on_the_bundled_model(lm, example, monkeypatch) -> None:
    """Every row an example scores through the tree equals that row scored whole (a seeded sample of 24), to 1e-5.

    Absolute below a log-probability of 1 in size, relative above (float32 holds -130 to 1.5e-5).
    """
    seen: list[tuple[list, list[np.ndarray]]] = []
    original = BatchedScorer.log_probs

    def spy(self, rows):
        out = original(self, rows)
        seen.append((list(rows), out))
        return out

    monkeypatch.setattr(scorer_module.BatchedScorer, "log_probs", spy)
    spec = json.loads((ROOT / "examples" / f"{example}.json").read_text(encoding="utf-8"))
    core.engine.run(spec, lm=lm)
    monkeypatch.setattr(scorer_module.BatchedScorer, "log_probs", original)
    rows = [(r, v) for batch, values in seen for r, v in zip(batch, values)]
    assert len(rows) > 1
    rng = np.random.default_rng(0)
    picked = [rows[i] for i in rng.choice(len(rows), size=min(24, len(rows)), replace=False)]
    whole = BatchedScorer(lm, share_prefix=False).log_probs([r for r, _ in picked])
    # to 1e-5, relative above 1 (a float32 log-probability of -130 is only held to 1.5e-5)
    worst = max(float((np.abs(w - v) / np.maximum(1.0, np.abs(w))).max()) for w, (_, v) in zip(whole, picked))
    assert worst <= 1e-5, worst
    for (prompt, target), values in picked[:3]:
        np.testing.assert_allclose(values, _direct(lm.model, prompt, target), atol=1e-4, rtol=0)


# ---------------------------------------------------------------- what the tree changes around it


def test_the_time_estimate_counts_the_tokens_the_tree_computes() -> None:
    """Few-shot 8 examples x 5 queries: the tree runs about 23,000 tokens (294,000 whole); the estimate's work follows the tree."""
    from core.runs.estimate import run_work

    spec = few_shot_presets()["sentiment"]
    more = [{"input": f"Another review, number {i}, of a film.", "label": "positive" if i % 2 else "negative"}
            for i in range(4)]
    spec.update(examples=spec["examples"] + more, queries=spec["queries"][:5], order_trials=0)
    work = run_work(spec)
    assert work is not None and 15_000 < work.tokens["few_shot"] < 40_000


def test_the_automatic_method_is_exact_where_sampling_would_score_as_many_subsets() -> None:
    assert uses_exact("auto", 11, 10, 200) and not uses_exact("auto", 11, 10, 25)
    cheaper = few_shot_cost(11, 5, 2, "auto", 10, 200)
    assert cheaper.exact and "as many subsets (2,048)" in cheaper.sentence()
    sampled = few_shot_cost(12, 6, 2, "auto", 10, 25).sentence()
    assert "Automatic: Shapley sampling" in sampled and "4,096 subsets" in sampled and "at most 301" in sampled
