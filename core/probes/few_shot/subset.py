"""The best subset of few-shot examples, and how well picking it that way generalises.

The best subset is the evaluated coalition with the highest mean probability of
the right label (ties: higher accuracy, then fewer examples). Chosen and scored
on the same queries, its accuracy flatters it: with many subsets to choose from,
one fits those queries by chance. :func:`cross_validate` measures the choice
honestly: leave one query out, choose the subset on the others, score it on the
one left out, for every query in turn (leave-one-query-out cross-validation). Its
accuracy is what the *procedure* of picking a subset gets on queries it did not
see; the subset offered is still the one chosen on all queries.

:func:`within_subset` says what each chosen example does inside the chosen subset
(the subset's right-label probability minus the subset's without it): an example
can hurt on average over all subsets (its Shapley value) and still help with the
examples it was chosen with, because examples interact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _key(prob: np.ndarray, correct: np.ndarray, size: int) -> tuple[float, float, int]:
    return float(prob.mean()), float(correct.mean()), -size


def choose(
    codes: Sequence[int], prob: np.ndarray, correct: np.ndarray, sizes: Sequence[int], queries: Sequence[int] | None = None
) -> int:
    """The row of the best coalition among ``codes`` on ``queries`` (all when None).

    ``prob`` and ``correct`` are (coalitions x queries), rows in ``codes`` order; ``sizes``
    the number of examples in each coalition.
    """
    cols = list(range(prob.shape[1])) if queries is None else list(queries)
    return max(range(len(codes)), key=lambda r: _key(prob[r, cols], correct[r, cols], sizes[r]))


def cross_validate(
    codes: Sequence[int],
    prob: np.ndarray,
    correct: np.ndarray,
    sizes: Sequence[int],
    members: Any,
) -> dict[str, Any] | None:
    """Leave-one-query-out check of the best-subset choice; None with fewer than two queries.

    Returns ``method`` ("leave-one-query-out"), ``queries``, ``accuracy`` and ``mean_prob``
    (of the subset chosen without each query, on that query), ``chosen`` (per query, the
    example indices chosen without it; ``members(code)`` lists a code's examples) and
    ``same`` (how many of those choices equal the subset chosen on all queries).
    """
    n_q = prob.shape[1]
    if n_q < 2:
        return None
    best_all = choose(codes, prob, correct, sizes)
    right, probs, chosen, same = [], [], [], 0
    index = np.arange(len(codes))
    neg_size = -np.asarray(sizes)
    prob_sum, correct_sum = prob.sum(axis=1), correct.sum(axis=1)
    for q in range(n_q):
        # the same choice as ``choose`` on the other queries, for every coalition at once
        mean_prob = (prob_sum - prob[:, q]) / (n_q - 1)
        mean_correct = (correct_sum - correct[:, q]) / (n_q - 1)
        r = int(np.lexsort((-index, neg_size, mean_correct, mean_prob))[-1])  # ties: the first coalition
        right.append(bool(correct[r, q]))
        probs.append(float(prob[r, q]))
        chosen.append(list(members(codes[r])))
        same += int(r == best_all)
    return {
        "method": "leave-one-query-out",
        "queries": n_q,
        "accuracy": float(np.mean(right)),
        "mean_prob": float(np.mean(probs)),
        "chosen": chosen,
        "same": same,
    }


def within_subset(code: int, examples: Sequence[int], prob_of: Any) -> dict[str, float | None]:
    """Per chosen example (its index as text): the subset's mean right-label probability minus without it.

    ``prob_of(code)`` gives a coalition's mean right-label probability, or None when it was
    not evaluated (Shapley sampling need not evaluate every coalition).
    """
    whole = prob_of(code)
    out: dict[str, float | None] = {}
    for i in examples:
        without = prob_of(code & ~(1 << i))
        out[str(i)] = None if whole is None or without is None else float(whole - without)
    return out
