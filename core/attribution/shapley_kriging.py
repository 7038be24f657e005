"""Shapley values from a sample of complement pairs, by kriging the game's odd part.

The paired sampling methods (``shapley_sampling`` and ``kernel_shap`` with
``paired``) score coalitions together with their complements. Write the value
function over coalitions S in the parity basis, ``v(S) = sum_T c_T chi_T(S)`` with
``chi_T(S) = (-1)^|S & T|``. Two facts make a pair worth more than two samples:

- a pair gives the odd part ``g(S) = (v(S) - v(N \\ S)) / 2 = sum_{|T| odd} c_T chi_T(S)``;
- Shapley values depend on the odd part only: ``phi_i = -2 sum_{T odd, T contains i} c_T / |T|``
  (the game ``chi_T`` gives -2/|T| to each member when |T| is odd, nothing when even).

So the estimate is a linear prediction of ``phi`` from the sampled ``g``: universal
kriging with the first-degree terms as unknown fixed effects (any additive game, and
so any game of pairs, is recovered exactly once the pairs span them) and the
higher odd degrees as a Gaussian prior, each coefficient of degree d with variance
``DECAY^((d-1)/2) / C(n, d)`` (most of a language model's score is carried by single
words, less by triples, little above), three neighbouring features with
``CONTIGUOUS`` times more (words of one phrase interact most). The empty coalition and
the full prompt are fitted exactly, so the attributions add up to score(all) -
score(none). Measured against Captum at equal forward passes in
``bench/bench_sampling.py``.

The prior's variance is a sum over degrees of Krawtchouk polynomials of the Hamming
distance between two coalitions, so the work is (pairs)^2, whatever n is; above
:data:`MAX_PAIRS` pairs (when samples are plentiful) the callers use their classical
estimators.
"""

from __future__ import annotations

from functools import lru_cache
from math import comb

import numpy as np

DECAY = 0.15
"""Prior energy of each odd degree relative to the one below it (degree 3 to 1, 5 to 3, ...)."""
CONTIGUOUS = 10.0
"""How many times more prior variance a third-degree term of three neighbouring features has."""
MAX_DEGREE = 9
"""The highest odd degree in the prior (above it the prior's energy is below DECAY^5)."""
MAX_PAIRS = 2000
"""The most complement pairs the kriging solves over (a pairs x pairs system: 32 MB per matrix at 2,000)."""
JITTER = 1e-9
"""Added to the prior's variance of each sampled pair (relative), for a stable solve."""


@lru_cache(maxsize=256)
def _krawtchouk(n: int, d: int) -> np.ndarray:
    """sum over the d-subsets T of n of (-1)^|T & D|, for |D| = h = 0..n, divided by C(n, d)."""
    total = comb(n, d)
    out = np.zeros(n + 1)
    for h in range(n + 1):
        s = sum((-1) ** j * comb(h, j) * comb(n - h, d - j) for j in range(0, min(h, d) + 1))
        out[h] = s / total
    return out


def _degrees(n: int) -> list[int]:
    """The odd degrees above one the prior has for n features."""
    return list(range(3, min(n, MAX_DEGREE) + 1, 2))


def _weight(d: int) -> float:
    """Prior energy of all terms of degree d together."""
    return DECAY ** ((d - 1) // 2)


def signs(masks: np.ndarray | Coalitions) -> np.ndarray:
    """chi_i(S) = -1 when feature i is present, +1 when absent (pairs x n)."""
    present = masks.present if isinstance(masks, Coalitions) else np.asarray(masks).astype(float)
    return 1.0 - 2.0 * present


def _triples(n: int) -> np.ndarray:
    """The (n - 2) x n membership of each run of three neighbouring features."""
    runs = np.zeros((max(n - 2, 0), n))
    for a in range(n - 2):
        runs[a, a : a + 3] = 1.0
    return runs


def _triple_chars(masks: np.ndarray) -> np.ndarray:
    """chi_T(S) for each run T of three neighbouring features (pairs x runs)."""
    n = masks.shape[1]
    runs = _triples(n)
    return 1.0 - 2.0 * ((masks.astype(float) @ runs.T) % 2)


def _contiguous_variance(n: int) -> float:
    """The extra prior variance of a third-degree term of neighbouring features (on top of any triple's)."""
    return (CONTIGUOUS - 1.0) * _weight(3) / comb(n, 3) if n >= 3 else 0.0


class Coalitions:
    """Coalitions (rows) with what the prior's covariance needs of them, computed once."""

    def __init__(self, masks: np.ndarray) -> None:
        self.masks = np.asarray(masks, dtype=bool)
        self.present = self.masks.astype(float)
        self.size = self.present.sum(axis=1)
        self.triples = _triple_chars(self.masks) if self.masks.shape[1] >= 3 else None

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, rows: slice | np.ndarray) -> Coalitions:
        """The coalitions ``rows`` (with their computed parts)."""
        out = Coalitions.__new__(Coalitions)
        out.masks, out.present, out.size = self.masks[rows], self.present[rows], self.size[rows]
        out.triples = None if self.triples is None else self.triples[rows]
        return out


def _table(n: int) -> np.ndarray:
    """The isotropic part of the prior's covariance as a function of the Hamming distance (0..n)."""
    table = np.zeros(n + 1)
    for d in _degrees(n):
        table += _weight(d) * _krawtchouk(n, d)
    return table


def prior_covariance(a: np.ndarray | Coalitions, b: np.ndarray | Coalitions) -> np.ndarray:
    """The prior covariance of the higher-degree odd part between coalitions ``a`` and ``b`` (rows)."""
    a = a if isinstance(a, Coalitions) else Coalitions(a)
    b = b if isinstance(b, Coalitions) else Coalitions(b)
    n = a.masks.shape[1]
    distance = (a.size[:, None] + b.size[None, :] - 2 * a.present @ b.present.T).round().astype(np.int64)
    cov = _table(n)[distance]
    if a.triples is not None and b.triples is not None:
        cov += _contiguous_variance(n) * (a.triples @ b.triples.T)
    return cov


def share_covariance(masks: np.ndarray) -> np.ndarray:
    """Prior covariance between each feature's share of the higher-degree part and g at ``masks`` (n x pairs)."""
    n = masks.shape[1]
    present = masks.astype(float)
    table = np.zeros(n)  # by the number of other features present (0..n-1)
    for d in _degrees(n):
        table += _weight(d) * (-2.0 / d) * _krawtchouk(n - 1, d - 1) * comb(n - 1, d - 1) / comb(n, d)
    others = (present.sum(axis=1)[None, :] - present.T).round().astype(np.int64)  # n x pairs
    out = signs(masks).T * table[others]
    if n >= 3:
        runs = _triples(n)
        chars = _triple_chars(masks)
        out += _contiguous_variance(n) * (-2.0 / 3.0) * (runs.T @ chars.T)
    return out


def share_variance(n: int) -> np.ndarray:
    """Prior variance of each feature's share of the higher-degree part."""
    total = sum(_weight(d) * (4.0 / d**2) * comb(n - 1, d - 1) / comb(n, d) for d in _degrees(n))
    out = np.full(n, total)
    if n >= 3:
        out += _contiguous_variance(n) * (4.0 / 9.0) * _triples(n).sum(axis=0)
    return out


def complement_pairs(masks: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The coalitions whose complement was scored too, each pair once, and their odd parts g.

    Returns (pair masks, g as pairs x outputs), with the empty coalition first; None when
    the empty or the full coalition is missing.
    """
    n = masks.shape[1]
    index: dict[bytes, int] = {}
    for r, mask in enumerate(masks):
        index.setdefault(np.packbits(mask).tobytes(), r)
    empty = index.get(np.packbits(np.zeros(n, bool)).tobytes())
    full = index.get(np.packbits(np.ones(n, bool)).tobytes())
    if empty is None or full is None:
        return None
    rows, g = [masks[empty]], [(values[empty] - values[full]) / 2]
    seen = {np.packbits(masks[empty]).tobytes(), np.packbits(masks[full]).tobytes()}
    for r, mask in enumerate(masks):
        key = np.packbits(mask).tobytes()
        other = index.get(np.packbits(~mask).tobytes())
        if key in seen or other is None:
            continue
        seen.update((key, np.packbits(~mask).tobytes()))
        rows.append(mask)
        g.append((values[r] - values[other]) / 2)
    return np.vstack(rows), np.vstack(g)


def kriged_shapley(masks: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Shapley values (outputs x features) and their standard errors from scored coalitions and complements.

    Args:
        masks: scored coalitions (rows, True = present), the empty and the full one among them.
        values: their scores (rows x outputs).

    Returns:
        (attributions, standard errors), both outputs x features; None when the pairs
        do not determine the first-degree terms, exceed :data:`MAX_PAIRS`, or the empty
        or full coalition is missing (the caller then uses its classical estimator).
    """
    pairs = complement_pairs(np.asarray(masks, dtype=bool), np.asarray(values, dtype=float))
    if pairs is None:
        return None
    rows, g = pairs
    m, n = rows.shape
    if m > MAX_PAIRS or m < n:
        return None
    x = signs(rows)  # fixed effects: chi_i
    cov = prior_covariance(rows, rows)
    scale = float(np.mean(np.diag(cov))) if n >= 3 else 1.0
    cov = cov + np.diag(np.r_[0.0, np.full(m - 1, JITTER * scale)]) + 1e-15 * np.eye(m)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None
    solve = lambda b: np.linalg.solve(chol.T, np.linalg.solve(chol, b))  # noqa: E731
    kinv_x = solve(x)
    gram = x.T @ kinv_x
    if np.linalg.matrix_rank(gram) < n:
        return None
    gram_inv = np.linalg.inv(gram)
    beta = gram_inv @ (kinv_x.T @ g)  # n x outputs
    resid = g - x @ beta
    alpha = solve(resid)
    cross = share_covariance(rows)  # n x m
    attr = -2.0 * beta + cross @ alpha  # n x outputs
    # posterior variance of each phi_i (unit prior scale), then the scale from the residuals
    kinv_c = solve(cross.T)  # m x n
    u = -2.0 * np.eye(n) - x.T @ kinv_c  # n x n (column i for feature i)
    var = share_variance(n) - np.einsum("mi,mi->i", cross.T, kinv_c) + np.einsum("ji,jk,ki->i", u, gram_inv, u)
    dof = max(m - n, 1)
    sigma2 = np.einsum("mo,mo->o", resid, alpha) / dof  # per output
    stderr = np.sqrt(np.clip(var, 0.0, None)[None, :] * np.clip(sigma2, 0.0, None)[:, None])
    if n < 62 and m == 2 ** (n - 1):  # every pair scored: the values are exact
        stderr = np.zeros_like(stderr)
    return attr.T, stderr
