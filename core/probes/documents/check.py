"""The top-k check: the answer's score with only the top-k sources kept, with them removed, and beside random sources.

The top-k log-probability drop (ContextCite's measure) is ``v(all) - v(all but the top k)``: a
faithful ranking names sources whose removal hurts the answer most. Random sets of k sources,
removed the same way, say what an uninformed ranking would get.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def check_masks(
    ranked: list[int], n: int, ks: tuple[int, ...], trials: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """The masks the check scores: per k, without the top k, with only the top k, then ``trials`` random removals."""
    masks = []
    for k in ks:
        if k > n:
            continue
        top = np.zeros(n, dtype=bool)
        top[ranked[:k]] = True
        masks += [~top, top]
        for _ in range(trials):
            drop = np.ones(n, dtype=bool)
            drop[rng.choice(n, size=k, replace=False)] = False
            masks.append(drop)
    return masks


def top_k_check(
    score: Callable[[np.ndarray], np.ndarray],
    full: float,
    ranked: list[int],
    n: int,
    ks: tuple[int, ...],
    trials: int,
    rng: np.random.Generator,
) -> list[dict[str, float | int | None]]:
    """One row per k (at most the sources there are): the drop with the top k removed, the score with only them,
    and the mean drop (and its spread) with k random sources removed."""
    masks = check_masks(ranked, n, ks, trials, rng)
    if not masks:
        return []
    values = score(np.vstack(masks))
    rows, at = [], 0
    for k in ks:
        if k > n:
            continue
        removed, only = float(values[at]), float(values[at + 1])
        random = values[at + 2 : at + 2 + trials]
        at += 2 + trials
        rows.append(
            {
                "k": k,
                "without_top": removed,
                "only_top": only,
                "drop": full - removed,
                "random_drop": float(full - random.mean()) if trials else None,
                "random_spread": float(random.std(ddof=1)) if trials > 1 else None,
            }
        )
    return rows
