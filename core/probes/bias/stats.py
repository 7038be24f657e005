"""Statistics for comparing two groups: bootstrap intervals, permutation tests, effect sizes.

Every function is seeded through the ``numpy.random.Generator`` it is given,
so the same data and seed give the same answer. The functions are vectorised
over resamples and accept matrices (units x outputs) so that many candidates
share one set of resampling indices.

Resamples are drawn and reduced in chunks of at most :data:`CHUNK_BYTES`, so
memory stays bounded however many are asked for, and ``poll`` (a callable that
raises to stop the run) is called before every chunk. A request that fits in one
chunk draws exactly what one undivided draw would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import combinations, islice
from math import comb

import numpy as np

TwoSampleStat = Callable[[np.ndarray, np.ndarray], np.ndarray]
Poll = Callable[[], None]

CHUNK_BYTES = 32 * 2**20
"""The most memory one chunk of resampled values takes (indices and gathered values)."""


def _no_poll() -> None:
    """The ``poll`` of a computation nobody stops."""


def _chunks(total: int, units: int, outputs: int) -> Iterator[tuple[int, int]]:
    """(start, size) of the chunks that ``total`` resamples of ``units`` x ``outputs`` values are split into."""
    per_resample = 8 * units * (outputs + 1)  # the indices and the gathered values
    size = max(1, CHUNK_BYTES // max(1, per_resample))
    for start in range(0, total, size):
        yield start, min(size, total - start)


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
    x: np.ndarray | list[float],
    n_resamples: int,
    rng: np.random.Generator,
    level: float = 0.95,
    poll: Poll = _no_poll,
) -> np.ndarray:
    """Percentile bootstrap interval of the mean; returns (2 x outputs): lo row, hi row.

    ``x`` is a vector or a (units x outputs) matrix; units are resampled with
    replacement, the same indices for every output. ``poll`` is called before each chunk.
    """
    m = _as_matrix(x)
    means = np.empty((n_resamples, m.shape[1]))
    for start, size in _chunks(n_resamples, len(m), m.shape[1]):
        poll()
        idx = rng.integers(0, len(m), size=(size, len(m)))
        means[start : start + size] = m[idx].mean(axis=1)
    return percentile_interval(means, level)


def bootstrap_two_sample(
    a: np.ndarray | list[float],
    b: np.ndarray | list[float],
    stat: TwoSampleStat,
    n_resamples: int,
    rng: np.random.Generator,
    level: float = 0.95,
    poll: Poll = _no_poll,
) -> np.ndarray:
    """Percentile bootstrap interval of a two-group statistic (groups resampled separately).

    ``stat(a_resampled, b_resampled)`` receives arrays (resamples x units x
    outputs) and returns (resamples x outputs). Returns (2 x outputs). ``poll`` is
    called before each chunk; within a chunk both groups' indices are drawn, the
    first group's before the second's.
    """
    ma, mb = _as_matrix(a), _as_matrix(b)
    samples = np.empty((n_resamples, ma.shape[1]))
    for start, size in _chunks(n_resamples, len(ma) + len(mb), ma.shape[1]):
        poll()
        ia = rng.integers(0, len(ma), size=(size, len(ma)))
        ib = rng.integers(0, len(mb), size=(size, len(mb)))
        samples[start : start + size] = stat(ma[ia], mb[ib])
    finite = np.where(np.isfinite(samples), samples, np.nan)
    tail = (1.0 - level) / 2.0 * 100.0
    return np.nanpercentile(finite, [tail, 100.0 - tail], axis=0)


def permutation_test(
    a: np.ndarray | list[float],
    b: np.ndarray | list[float],
    stat: TwoSampleStat,
    n_permutations: int,
    rng: np.random.Generator,
    poll: Poll = _no_poll,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided permutation test of a two-group statistic; returns (observed, p-values).

    Group labels are shuffled over the pooled units. When the number of distinct
    splits is at most ``n_permutations`` every split is enumerated (an exact
    test, p = share of splits at least as extreme); otherwise random shuffles
    are drawn and p = (1 + count) / (1 + n_permutations), which never reaches 0.
    Splits are made, and counted, a chunk at a time; ``poll`` is called before each.
    """
    ma, mb = _as_matrix(a), _as_matrix(b)
    pooled = np.vstack([ma, mb])
    na, n = len(ma), len(ma) + len(mb)
    observed = stat(ma[None], mb[None])[0]
    exact = comb(n, na) <= n_permutations
    total = comb(n, na) if exact else n_permutations
    splits = combinations(range(n), na)
    # A small tolerance keeps ties (the observed split itself) counted despite rounding.
    tol = 1e-12 * np.maximum(1.0, np.abs(observed))
    extreme = np.zeros(pooled.shape[1], dtype=np.int64)
    for _, size in _chunks(total, n, pooled.shape[1]):
        poll()
        if exact:
            chosen = np.array(list(islice(splits, size)), dtype=np.int64).reshape(size, na)
            in_a = np.zeros((size, n), dtype=bool)
            in_a[np.arange(size)[:, None], chosen] = True
            order = np.argsort(~in_a, axis=1, kind="stable")
        else:
            order = rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)
        rows = pooled[order]
        stats = stat(rows[:, :na], rows[:, na:])
        extreme += (np.abs(stats) >= np.abs(observed)[None, :] - tol[None, :]).sum(axis=0)
    if exact:
        p = extreme / total
    else:
        p = (1.0 + extreme) / (1.0 + total)
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
