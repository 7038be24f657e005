"""Statistics for comparing two groups: bootstrap intervals, permutation tests, effect sizes.

Every function is seeded through the ``numpy.random.Generator`` it is given,
so the same data and seed give the same answer. The functions are vectorised
over resamples and accept matrices (units x outputs) so that many candidates
share one set of resampling indices.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import comb

import numpy as np

TwoSampleStat = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _as_matrix(x: np.ndarray | list[float]) -> np.ndarray:
    """Values as a (units x outputs) float matrix (a vector becomes one output column)."""
    arr = np.asarray(x, dtype=float)
    return arr[:, None] if arr.ndim == 1 else arr


def mean_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Difference of means along axis -2 (units): mean(a) - mean(b)."""
    return a.mean(axis=-2) - b.mean(axis=-2)


def log_ratio_of_means(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(mean(a) / mean(b)) along axis -2, for positive values such as probabilities."""
    with np.errstate(divide="ignore"):
        return np.log(a.mean(axis=-2)) - np.log(b.mean(axis=-2))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Percentile interval of bootstrap samples along axis 0: rows (lo, hi)."""
    tail = (1.0 - level) / 2.0 * 100.0
    return np.percentile(samples, [tail, 100.0 - tail], axis=0)


def bootstrap_mean_ci(
    x: np.ndarray | list[float], n_resamples: int, rng: np.random.Generator, level: float = 0.95
) -> np.ndarray:
    """Percentile bootstrap interval of the mean; returns (2 x outputs): lo row, hi row.

    ``x`` is a vector or a (units x outputs) matrix; units are resampled with
    replacement, the same indices for every output.
    """
    m = _as_matrix(x)
    idx = rng.integers(0, len(m), size=(n_resamples, len(m)))
    means = m[idx].mean(axis=1)
    return percentile_interval(means, level)


def bootstrap_two_sample(
    a: np.ndarray | list[float],
    b: np.ndarray | list[float],
    stat: TwoSampleStat,
    n_resamples: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> np.ndarray:
    """Percentile bootstrap interval of a two-group statistic (groups resampled separately).

    ``stat(a_resampled, b_resampled)`` receives arrays (resamples x units x
    outputs) and returns (resamples x outputs). Returns (2 x outputs).
    """
    ma, mb = _as_matrix(a), _as_matrix(b)
    ia = rng.integers(0, len(ma), size=(n_resamples, len(ma)))
    ib = rng.integers(0, len(mb), size=(n_resamples, len(mb)))
    samples = stat(ma[ia], mb[ib])
    finite = np.where(np.isfinite(samples), samples, np.nan)
    tail = (1.0 - level) / 2.0 * 100.0
    return np.nanpercentile(finite, [tail, 100.0 - tail], axis=0)


def permutation_test(
    a: np.ndarray | list[float],
    b: np.ndarray | list[float],
    stat: TwoSampleStat,
    n_permutations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided permutation test of a two-group statistic; returns (observed, p-values).

    Group labels are shuffled over the pooled units. When the number of distinct
    splits is at most ``n_permutations`` every split is enumerated (an exact
    test, p = share of splits at least as extreme); otherwise random shuffles
    are drawn and p = (1 + count) / (1 + n_permutations), which never reaches 0.
    """
    ma, mb = _as_matrix(a), _as_matrix(b)
    pooled = np.vstack([ma, mb])
    na, n = len(ma), len(ma) + len(mb)
    observed = stat(ma[None], mb[None])[0]
    exact = comb(n, na) <= n_permutations
    if exact:
        splits = np.array(list(combinations(range(n), na)), dtype=np.int64)
        in_a = np.zeros((len(splits), n), dtype=bool)
        in_a[np.arange(len(splits))[:, None], splits] = True
        order = np.argsort(~in_a, axis=1, kind="stable")
    else:
        order = rng.permuted(np.tile(np.arange(n), (n_permutations, 1)), axis=1)
    stats = np.empty((len(order), pooled.shape[1]))
    chunk = max(1, 2_000_000 // max(1, n * pooled.shape[1]))
    for start in range(0, len(order), chunk):
        rows = pooled[order[start : start + chunk]]
        stats[start : start + chunk] = stat(rows[:, :na], rows[:, na:])
    # A small tolerance keeps ties (the observed split itself) counted despite rounding.
    tol = 1e-12 * np.maximum(1.0, np.abs(observed))
    extreme = (np.abs(stats) >= np.abs(observed)[None, :] - tol[None, :]).sum(axis=0)
    if exact:
        p = extreme / len(order)
    else:
        p = (1.0 + extreme) / (1.0 + len(order))
    p = np.where(np.isfinite(observed), p, np.nan)
    return observed, np.minimum(p, 1.0)


def cohens_d(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> np.ndarray:
    """Cohen's d per output: (mean(a) - mean(b)) / pooled standard deviation.

    NaN where both groups have no spread (the difference has no scale).
    """
    ma, mb = _as_matrix(a), _as_matrix(b)
    na, nb = len(ma), len(mb)
    var = ((na - 1) * ma.var(axis=0, ddof=1) + (nb - 1) * mb.var(axis=0, ddof=1)) / (na + nb - 2)
    sd = np.sqrt(var)
    diff = ma.mean(axis=0) - mb.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0), np.nan)


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error over all candidates)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted
