"""The batched scorer equals one plain forward per row, however rows share prefixes."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from core.attribution.scorer import BatchedScorer, length_groups
from core.errors import Cancelled
from core.models.loading import LoadedModel


def _direct(model, prompt, target):
    with torch.no_grad():
        logits = model(torch.tensor([list(prompt) + list(target)])).logits[0]
    lp = torch.log_softmax(logits, -1)
    return np.array([lp[len(prompt) - 1 + j, t].item() for j, t in enumerate(target)])


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    """A small random Llama built from a config: mechanics only, not product claims."""
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
    )
    model = LlamaForCausalLM(cfg).eval()
    return LoadedModel("tiny", "tiny", "random", model, None, torch.device("cpu"), threading.RLock())


def _rows(rng: np.random.Generator, n: int):
    shared = rng.integers(1, 97, size=40).tolist()
    rows = []
    for _ in range(n):
        cut = int(rng.integers(1, 40))
        prompt = shared[:cut] + rng.integers(1, 97, size=int(rng.integers(1, 12))).tolist()
        target = rng.integers(1, 97, size=int(rng.integers(1, 6))).tolist()
        rows.append((prompt, target))
    rows.append(rows[0])  # a duplicate
    return rows


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("budget", [0.05, 64.0])
def test_scorer_equals_plain_forward(tiny, share, budget):
    rows = _rows(np.random.default_rng(1), 30)
    scorer = BatchedScorer(tiny, memory_budget_mb=budget, share_prefix=share)
    scorer.call_cost_tokens = 1
    out = scorer.log_probs(rows)
    for (prompt, target), got in zip(rows, out):
        np.testing.assert_allclose(got, _direct(tiny.model, prompt, target), atol=1e-5)
    assert scorer.forward_passes == 30  # the duplicate is scored once
    if budget < 1:
        assert scorer.model_calls > 3  # a small budget means small batches


def test_sharing_prefixes_processes_fewer_tokens(tiny):
    rows = _rows(np.random.default_rng(2), 40)
    shared = BatchedScorer(tiny, share_prefix=True)
    shared.call_cost_tokens = 1
    plain = BatchedScorer(tiny, share_prefix=False)
    shared.log_probs(rows)
    plain.log_probs(rows)
    assert shared.tokens_processed < plain.tokens_processed


def test_progress_reports_every_row_and_stop_cancels(tiny):
    rows = _rows(np.random.default_rng(3), 20)
    seen = []
    BatchedScorer(tiny, memory_budget_mb=0.05, progress=lambda d, t: seen.append((d, t))).log_probs(rows)
    assert seen[-1] == (20, 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        BatchedScorer(tiny, memory_budget_mb=0.05, should_stop=stop).log_probs(rows)


def test_bundled_model_shared_prefix_matches_plain_forward(lm):
    tok = lm.tokenizer
    base = "Dave lives in Palm Coast, FL and is a lawyer. His personal interests include"
    prompts = [base, base.replace("lawyer", "doctor"), base.replace("Dave", "Sarah")]
    targets = [" golf", " reading books"]
    rows = [(tok(p)["input_ids"], tok(t, add_special_tokens=False)["input_ids"]) for p in prompts for t in targets]
    out = BatchedScorer(lm).log_probs(rows)
    for (p, t), got in zip(rows, out):
        np.testing.assert_allclose(got, _direct(lm.model, p, t), atol=1e-4)


def _best_cut_cost(lengths: list[int], most: int, call: float) -> float:
    """The cheapest cut by brute force over every way to cut the sorted lengths into neighbouring groups."""
    n = len(lengths)
    best = math.inf
    for mask in range(2 ** (n - 1)):
        bounds = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        groups = list(zip(bounds, bounds[1:]))
        if any(b - a > most for a, b in groups):
            continue
        best = min(best, sum(call + (b - a) * lengths[a] for a, b in groups))
    return best


def test_length_groups_cut_batches_at_the_least_padding_and_calls() -> None:
    rng = np.random.default_rng(4)
    for _ in range(40):
        lengths = sorted(rng.integers(1, 60, size=int(rng.integers(1, 9))).tolist(), reverse=True)
        most, call = int(rng.integers(1, 6)), float(rng.integers(0, 80))
        groups = length_groups(lengths, most, call)
        assert [a for a, _ in groups][0] == 0 and groups[-1][1] == len(lengths)
        assert all(b0 == a1 for (_, b0), (a1, _) in zip(groups, groups[1:]))  # neighbours, every chain once
        cost = sum(call + (b - a) * lengths[a] for a, b in groups)
        assert cost == pytest.approx(_best_cut_cost(lengths, most, call))
    assert length_groups([40, 39, 12, 11], 64, 64) == [(0, 4)]  # padding 56 tokens: cheaper than a call
    assert length_groups([40, 39, 12, 11], 64, 8) == [(0, 2), (2, 4)]


def test_a_small_tree_scores_whole_rows_when_its_calls_cost_more_than_it_saves(tiny):
    """Feature ablation's shape: rows that differ from their first token split the tree at its root, so the
    tree needs two calls to save a few tokens; one call of whole rows is cheaper. A long shared prompt is not."""
    rng = np.random.default_rng(5)
    words = rng.integers(1, 97, size=30).tolist()
    small = [(words, [3])] + [(words[:k] + [(words[k] % 9) + 1] + words[k + 1 :], [3]) for k in range(0, 30, 4)]
    scorer = BatchedScorer(tiny)
    got = scorer.log_probs(small)
    assert scorer.model_calls == 1 and scorer.tokens_processed == scorer.tokens_whole
    for row, values in zip(small, got):
        np.testing.assert_allclose(values, _direct(tiny.model, *row), atol=1e-5)
    shared = rng.integers(1, 97, size=200).tolist()
    long = [(shared + [int(a)], [3]) for a in range(1, 12)]
    scorer = BatchedScorer(tiny)
    scorer.log_probs(long)
    assert scorer.tokens_processed < scorer.tokens_whole / 5
