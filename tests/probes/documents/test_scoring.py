"""Ablations scored through the prefix tree equal each ablation scored whole, on the bundled model.

To 1e-5 relative to each log-probability above 1 (float32 sums added in another order: a -20 log-probability
moves by up to 2e-5). Measured: at most 1.7e-5 absolute, 4.8e-6 relative. The served model's prefix cache is
checked the same way in test_served.py.
"""

from __future__ import annotations

import numpy as np

from core.attribution.scorer import BatchedScorer
from core.models.loading import LoadedModel
from core.probes.documents.prompt import build_prompt
from core.probes.documents.sources import build_tree
from core.probes.documents.spec import DEFAULT_TEMPLATE


def relative_gap(whole: list[np.ndarray], other: list[np.ndarray]) -> float:
    """The largest difference of two scorings' log-probabilities, relative to the log-probability above 1."""
    return max(float((np.abs(w - o) / np.maximum(1.0, np.abs(w))).max()) for w, o in zip(whole, other))


DOCUMENT = (
    "The lighthouse on Gull Point was built in 1871. Its lamp burned whale oil at first.\n\n"
    "The keeper, Tomas Brec, lived in the cottage beside it. He kept a log of every ship.\n\n"
    "In 1932 the lamp was replaced by an electric one. The cottage is now a museum."
)


def test_prefix_tree_scores_equal_whole_rows_and_run_fewer_tokens(lm: LoadedModel) -> None:
    tree = build_tree(DOCUMENT, "sentence")
    prompt = build_prompt(lm.tokenizer, tree, "Who kept the lighthouse?", DEFAULT_TEMPLATE, True)
    answer = lm.tokenizer("Tomas Brec kept it.", add_special_tokens=False)["input_ids"]
    n = len(tree.leaves)
    masks = [np.ones(n, bool)] + [np.arange(n) != i for i in range(n)]
    masks += list(np.random.default_rng(0).random((4, n)) < 0.5)
    rows = [(prompt.ids(m), answer) for m in masks]
    shared, whole = BatchedScorer(lm), BatchedScorer(lm, share_prefix=False)
    tree_lp, whole_lp = shared.log_probs(rows), whole.log_probs(rows)
    assert relative_gap(whole_lp, tree_lp) <= 1e-5
    assert shared.tokens_processed < whole.tokens_processed == shared.tokens_whole
    # Removing the third sentence keeps every token before it: the full prompt and the ablation share that prefix.
    kept = len(prompt.before) + len(prompt.sources[0]) + len(prompt.sources[1])
    full, third_out = prompt.ids(masks[0]), prompt.ids(masks[3])
    assert full[:kept] == third_out[:kept] and full[kept] != third_out[kept]
