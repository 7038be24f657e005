"""Hierarchical values against brute force: Owen values by every ordering, exact Shapley, Captum's Shapley values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from captum.attr import ShapleyValues

from core.probes.documents.lasso import lasso_fit
from core.probes.documents.owen import hierarchical_values
from core.probes.documents.sources import build_tree

TEXT = "A one. A two.\n\nB one. B two. B three.\n\nC one."


def table_game(n: int, seed: int):
    """A game with a random value for every coalition (no structure a method could lean on)."""
    table = np.random.default_rng(seed).normal(size=2**n)
    weights = 1 << np.arange(n)

    def value(masks: np.ndarray) -> np.ndarray:
        return table[masks.astype(np.int64) @ weights]

    return value


def owen_by_orderings(blocks: list[list[int]], value, n: int) -> np.ndarray:
    """Owen values: marginal contributions averaged over the orderings that keep each block together."""
    total, count = np.zeros(n), 0
    for block_order in itertools.permutations(range(len(blocks))):
        for inner in itertools.product(*[list(itertools.permutations(b)) for b in blocks]):
            mask = np.zeros(n, dtype=bool)
            before = value(mask[None])[0]
            for i in (i for b in block_order for i in inner[b]):
                mask[i] = True
                after = value(mask[None])[0]
                total[i] += after - before
                before = after
            count += 1
    return total / count


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_hierarchical_values_are_the_owen_values(seed: int) -> None:
    tree = build_tree(TEXT, "sentence")
    n = len(tree.leaves)
    value = table_game(n, seed)
    found = hierarchical_values(tree, value, "shapley", 10**6, 100, "owen")
    blocks = [list(tree.under[p]) for p in tree.children[0]]
    expected = owen_by_orderings(blocks, value, n)
    assert np.allclose(found.values[list(tree.leaves)], expected, atol=1e-12)
    assert found.refined.all()
    # A paragraph's value is the sum of its sentences' (the Owen value's efficiency inside a block).
    for p in tree.children[0]:
        assert found.values[p] == pytest.approx(sum(found.values[c] for c in tree.children[p]))


def test_three_levels_equal_nested_owen_values() -> None:
    tree = build_tree("Red cat. Big dog.\n\nOne bird.", "word")
    n = len(tree.leaves)
    value = table_game(n, 7)
    found = hierarchical_values(tree, value, "shapley", 10**6, 100, "owen")
    # Nested Owen: orderings keep every paragraph together, and inside it every sentence together.
    total, count = np.zeros(n), 0
    paragraphs = tree.children[0]
    for p_order in itertools.permutations(paragraphs):
        sentence_orders = [list(itertools.permutations(tree.children[p])) for p in p_order]
        for s_choice in itertools.product(*sentence_orders):
            sentences = [s for chosen in s_choice for s in chosen]
            word_orders = [list(itertools.permutations(tree.under[s])) for s in sentences]
            for w_choice in itertools.product(*word_orders):
                mask = np.zeros(n, dtype=bool)
                before = value(mask[None])[0]
                for i in (i for chosen in w_choice for i in chosen):
                    mask[i] = True
                    after = value(mask[None])[0]
                    total[i] += after - before
                    before = after
                count += 1
    assert np.allclose(found.values[list(tree.leaves)], total / count, atol=1e-12)


def test_one_level_is_exact_shapley_as_captum_computes_it() -> None:
    tree = build_tree("One.\n\nTwo.\n\nThree.\n\nFour.\n\nFive.", "paragraph")
    n = len(tree.leaves)
    value = table_game(n, 3)
    found = hierarchical_values(tree, value, "shapley", 10**6, 100)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.tensor(value(x.numpy() > 0.5), dtype=torch.float64)

    captum = ShapleyValues(forward).attribute(
        torch.ones((1, n), dtype=torch.float64), baselines=torch.zeros((1, n), dtype=torch.float64)
    )
    assert np.allclose(found.values[list(tree.leaves)], captum[0].numpy(), atol=1e-10)
    assert found.passes == 2**n


def test_document_contexts_keep_a_paragraph_sum_and_open_only_what_matters() -> None:
    text = "\n\n".join(f"P{p} first. P{p} second. P{p} third." for p in range(6))
    tree = build_tree(text, "sentence")
    n = len(tree.leaves)
    key = 7  # the second sentence of the third paragraph carries the answer

    def value(masks: np.ndarray) -> np.ndarray:
        return 5.0 * masks[:, key] + 0.1 * masks.sum(axis=1)

    found = hierarchical_values(tree, value, "leave_one_out", 14, 1)
    leaves = found.values[list(tree.leaves)]
    assert int(np.argmax(leaves)) == key
    opened = [p for p in tree.children[0] if found.refined[tree.children[p][0]]]
    assert opened == [tree.parent[tree.leaves[key]]]  # only the paragraph that matters was opened
    assert found.passes <= 14
    for p in tree.children[0]:
        assert found.values[p] == pytest.approx(sum(found.values[c] for c in tree.children[p]))
    assert n == 18


def test_the_paragraph_that_matters_gets_the_passes_that_see_its_sentences_together() -> None:
    """Two sentences of one paragraph each carry the answer alone (removing one costs 1, both 10). The passes
    left for the sentences go to the paragraphs in proportion to their values, so that paragraph is read by
    paired Kernel SHAP, which sees the two together; split equally between three paragraphs, each got
    leave-one-out, and the 8 the pair holds beyond their own values went to all five sentences alike,
    ranking the three idle ones above a sentence elsewhere that matters a little."""
    text = "\n\n".join(" ".join(f"P{p} s{s}." for s in range(5)) for p in range(4))
    tree = build_tree(text, "sentence")
    a, b, small = 10, 11, 0  # the first two sentences of the third paragraph; the first of the first

    def value(masks: np.ndarray) -> np.ndarray:
        both_gone = ~masks[:, a] & ~masks[:, b]
        one_gone = masks[:, a] ^ masks[:, b]
        return -10.0 * both_gone - 1.0 * one_gone - 0.5 * ~masks[:, small] - 0.3 * ~masks[:, 17]

    found = hierarchical_values(tree, value, "auto", 32, 3)
    paragraph = tree.parent[tree.leaves[a]]
    assert {found.methods[k] for k in tree.children[paragraph]} == {"kernel_shap"}
    leaves = found.values[list(tree.leaves)]
    assert list(np.argsort(-leaves)[:3]) in ([a, b, small], [b, a, small])
    assert found.passes <= 32


@pytest.mark.parametrize(("method", "least"), [("auto", 8), ("leave_one_out", 8), ("kernel_shap", 14), ("shapley", 64)])
def test_a_run_never_scores_more_masks_than_its_passes(method: str, least: int) -> None:
    """Leave-one-out needs the node's game with every child but not with none: a node opened with one pass
    too few used to be counted as affordable, and a run scored 33 masks of 32. (``least``: the root's six
    paragraphs are always read, by the chosen method.)"""
    text = "\n\n".join(" ".join(f"P{p} s{s}." for s in range(5)) for p in range(6))
    tree = build_tree(text, "sentence")
    rng = np.random.default_rng(3)
    for passes in range(least, least + 72, 3):
        weights = rng.normal(size=len(tree.leaves))

        def value(masks: np.ndarray, weights: np.ndarray = weights) -> np.ndarray:
            return masks @ weights + 2.0 * (masks[:, 3] & masks[:, 4])

        found = hierarchical_values(tree, value, method, passes, 3, rng=np.random.default_rng(passes))
        assert found.passes <= passes, (passes, found.passes)


def test_lasso_matches_scikit_learn() -> None:
    from sklearn.linear_model import Lasso
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.random((60, 10)) < 0.5
    y = x @ rng.normal(size=10) + rng.normal(size=60) * 0.2
    scaler, lasso = StandardScaler(), Lasso(alpha=0.05, tol=1e-10, max_iter=100_000)
    make_pipeline(scaler, lasso).fit(x.astype(float), y)
    assert np.allclose(lasso_fit(x, y, 0.05, sweeps=5000), lasso.coef_ / scaler.scale_, atol=1e-6)


def test_sampled_methods_recover_an_additive_game() -> None:
    from core.probes.documents.node_methods import node_values

    weights = np.random.default_rng(4).normal(size=9)

    def game(masks: np.ndarray) -> np.ndarray:
        return masks @ weights + 1.5

    rng = np.random.default_rng(0)
    kernel = node_values(game, 9, "kernel_shap", 30, rng)
    assert kernel.method == "kernel_shap" and np.allclose(kernel.values, weights, atol=1e-6)
    assert kernel.stderr is not None and np.all(kernel.stderr < 1e-3)
    loo = node_values(game, 9, "leave_one_out", 10, rng)
    assert np.allclose(loo.values, weights) and loo.stderr is None
    lasso = node_values(game, 9, "context_cite", 40, rng)
    assert np.corrcoef(lasso.values, weights)[0, 1] > 0.99 and lasso.stderr is not None


def test_a_long_document_is_first_read_in_groups_of_paragraphs() -> None:
    text = "\n\n".join(f"P{p} first part. P{p} second part." for p in range(24))
    tree = build_tree(text, "sentence")
    key = 2 * 17 + 1  # the second sentence of paragraph 17 carries the answer

    def value(masks: np.ndarray) -> np.ndarray:
        return 5.0 * masks[:, key] + 0.01 * masks.sum(axis=1)

    seen = []
    found = hierarchical_values(tree, value, "auto", 40, 2, on_level=seen.append)
    first = seen[0]
    assert len(first.groups) == len(found.groups) == 5 and first.grouped_only and not found.grouped_only
    assert first.passes == 5 + 2  # each group left out once, the whole document, and none of it
    paragraphs = list(tree.children[0])
    values = first.values[paragraphs]
    assert list(np.flatnonzero(np.isclose(values, values.max()))) == [15, 16, 17, 18, 19]  # 17's group
    assert not first.refined[paragraphs].any()
    assert [len(g) for g in first.groups] == [5, 5, 5, 5, 4] and first.groups[3] == tuple(paragraphs[15:20])
    assert len(first.values) == len(tree.spans)  # the groups are not the caller's nodes
    assert int(np.argmax(found.values[list(tree.leaves)])) == key
    measured = [p for p in paragraphs if found.refined[p]]
    assert 17 in measured and len(measured) <= 2 * 5  # only the paragraphs of the groups opened
    assert {found.methods[p] for p in measured} == {"leave_one_out"}
    assert found.passes <= 40
    for p in paragraphs:  # every paragraph, measured or a share, is the sum of its sentences
        assert found.values[p] == pytest.approx(sum(found.values[c] for c in tree.children[p]))
    assert sum(found.values[p] for p in paragraphs) == pytest.approx(found.values[0])


def test_a_few_paragraphs_are_not_grouped() -> None:
    text = "\n\n".join(f"P{p} first part. P{p} second part." for p in range(10))
    found = hierarchical_values(build_tree(text, "sentence"), lambda m: m.sum(axis=1) * 1.0, "auto", 40, 2)
    assert found.groups == ()
