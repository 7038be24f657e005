"""Which complement pairs to score: those that tell the most about the Shapley values.

Under the kriging prior of :mod:`core.attribution.shapley_kriging` (with the
first-degree terms given a large, finite variance), how uncertain the Shapley
values remain depends on which coalitions were scored, not on their scores. So a
plan can choose, among random candidates, the ones that shrink that uncertainty
(the trace of the Shapley values' posterior covariance) the most, one after another
(greedy Bayesian experimental design). Randomness stays where it was: the
candidates are drawn from the run's seed.

- :func:`greedy_pairs` (Kernel SHAP): single pairs picked from a random pool;
- :class:`OrderDesign` (Shapley sampling): whole orderings, each picked from
  :data:`ORDER_TRIES` random ones (an ordering walked forwards and backwards gives
  n - 1 complement pairs).

Both stop choosing above :data:`MAX_GREEDY_PAIRS` pairs (the callers then draw at
random, as before): past that the samples are plentiful and the choice costs more
than it saves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.attribution.shapley_kriging import Coalitions, prior_covariance, share_covariance, signs

FIRST_DEGREE_VARIANCE = 100.0
"""Prior variance of the first-degree terms while choosing (large: they are fitted freely afterwards)."""
MAX_GREEDY_PAIRS = 400
"""The most complement pairs a plan chooses one by one."""
POOL_FACTOR = 8
"""Kernel SHAP draws this many candidate pairs per pair it needs (fewer when the game has fewer)."""
ORDER_TRIES = 16
"""Shapley sampling picks each ordering from this many random ones."""

Poll = Callable[[], None]


def joint_covariance(a: np.ndarray | Coalitions, b: np.ndarray | Coalitions) -> np.ndarray:
    """Prior covariance of the odd part g between coalitions ``a`` and ``b``, first degree included."""
    return prior_covariance(a, b) + FIRST_DEGREE_VARIANCE * signs(a) @ signs(b).T


def shapley_covariance(masks: np.ndarray) -> np.ndarray:
    """Prior covariance between the Shapley values and g at ``masks`` (n x pairs), first degree included."""
    return share_covariance(masks) - 2.0 * FIRST_DEGREE_VARIANCE * signs(masks).T


def canonical(mask: np.ndarray) -> np.ndarray:
    """The one of a mask and its complement that leaves feature 0 out (names the pair)."""
    return ~mask if mask[0] else mask


def greedy_pairs(
    chosen: np.ndarray, pool: np.ndarray, count: int, poll: Poll = lambda: None
) -> np.ndarray:
    """``count`` pairs from ``pool`` (rows), one at a time, each shrinking the Shapley values' uncertainty most.

    Args:
        chosen: pairs already in the plan (rows; the empty coalition among them).
        pool: candidate pairs (rows), distinct from each other and from ``chosen``.
        count: how many to pick (at most the pool's size).

    Returns:
        The indices into ``pool`` of the picked pairs, in the order picked.
    """
    count = min(count, len(pool))
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    pool_rows, pool = pool, Coalitions(pool)
    # condition the pool on what is already chosen
    k_dd = joint_covariance(chosen, chosen) + 1e-9 * np.eye(len(chosen))
    k_dp = joint_covariance(chosen, pool)
    c_d, c_p = shapley_covariance(chosen), shapley_covariance(pool_rows)
    chol = np.linalg.cholesky(k_dd)
    a = np.linalg.solve(chol, k_dp)  # d x p
    g = np.linalg.solve(chol, c_d.T)  # d x n
    var = np.full(len(pool), joint_covariance(pool[:1], pool[:1])[0, 0])  # every coalition's prior variance
    var = var - np.einsum("dp,dp->p", a, a)
    cross = c_p - g.T @ a  # n x p
    factors = np.zeros((count, len(pool)))
    picked: list[int] = []
    taken = np.zeros(len(pool), dtype=bool)
    for step in range(count):
        poll()
        score = np.einsum("np,np->p", cross, cross) / np.maximum(var, 1e-12)
        score[taken] = -np.inf
        j = int(np.argmax(score))
        column = joint_covariance(pool, pool[j : j + 1])[:, 0] - a.T @ a[:, j] - factors[:step].T @ factors[:step, j]
        v = max(float(column[j]), 1e-12)
        f = column / np.sqrt(v)
        factors[step] = f
        cross = cross - np.outer(cross[:, j], column) / v
        var = var - f * f
        taken[j] = True
        picked.append(j)
    return np.asarray(picked, dtype=np.int64)


class OrderDesign:
    """Chooses orderings for paired Shapley sampling, each among :data:`ORDER_TRIES` random ones.

    Starts from the pairs already in the plan; :meth:`pick` returns the candidate
    ordering whose n - 1 complement pairs shrink the Shapley values' uncertainty most,
    and adds them.
    """

    def __init__(self, chosen: np.ndarray) -> None:
        self.rows = np.asarray(chosen, dtype=bool)
        self.keys = {canonical(r).tobytes() for r in self.rows}
        self._refresh()

    def _refresh(self) -> None:
        k = joint_covariance(self.rows, self.rows) + 1e-9 * np.eye(len(self.rows))
        self.chol = np.linalg.cholesky(k)
        self.g = np.linalg.solve(self.chol, shapley_covariance(self.rows).T)  # d x n

    def _new_pairs(self, order: np.ndarray) -> np.ndarray:
        """The pairs of ``order``'s prefixes not yet in the design (rows, canonical)."""
        n = len(order)
        rows, seen = [], set()
        mask = np.zeros(n, dtype=bool)
        for k in range(n - 1):
            mask = mask.copy()
            mask[order[k]] = True
            pair = canonical(mask)
            key = pair.tobytes()
            if key not in self.keys and key not in seen:
                seen.add(key)
                rows.append(pair)
        return np.vstack(rows) if rows else np.zeros((0, n), dtype=bool)

    def gain(self, pairs: np.ndarray) -> float:
        """How much scoring ``pairs`` would shrink the trace of the Shapley values' posterior covariance."""
        if len(pairs) == 0:
            return 0.0
        a = np.linalg.solve(self.chol, joint_covariance(self.rows, pairs))
        k_bb = joint_covariance(pairs, pairs) - a.T @ a + 1e-9 * np.eye(len(pairs))
        c_b = shapley_covariance(pairs) - self.g.T @ a
        return float(np.trace(c_b @ np.linalg.solve(k_bb, c_b.T)))

    def pick(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The best of :data:`ORDER_TRIES` random orderings; its pairs join the design."""
        best, best_gain, best_pairs = None, -1.0, None
        for _ in range(ORDER_TRIES):
            order = rng.permutation(n)
            pairs = self._new_pairs(order)
            gain = self.gain(pairs)
            if gain > best_gain:
                best, best_gain, best_pairs = order, gain, pairs
        assert best is not None and best_pairs is not None
        if len(best_pairs):
            self.rows = np.vstack([self.rows, best_pairs])
            self.keys.update(p.tobytes() for p in best_pairs)
            self._refresh()
        return best
