"""Faithfulness of an attribution: deletion and insertion curves against random orders.

An attribution ranks the features. If it explains the model, removing the
features it ranks highest first (deletion) makes the target's score fall fastest,
and adding them first to an empty prompt (insertion) makes it rise fastest.

For an order of the n features (largest attribution first, ties in prompt order):

- deletion curve ``D[k]`` = score with the first k features removed (k = 0..n);
- insertion curve ``I[k]`` = score with only the first k features present;
- comprehensiveness ``C[k] = D[0] - D[k]`` and sufficiency ``S[k] = D[0] - I[k]``;
- deletion AOPC = mean over k of ``C[k]`` (higher: removing the top features hurts more);
- insertion AOPC = mean over k of ``I[k] - I[0]`` (higher: the top features alone recover more).

Above :data:`MAX_STEPS` features the curves are scored at ``MAX_STEPS`` + 1 evenly spaced
k (0 and n among them; the result's ``k`` lists them) and the areas are means over those.

Both are set beside the same figures for random orders (seeded): a random order's
deletion chain, read backwards, is the insertion chain of the reversed order, so
one chain of n - 1 prompts gives a random sample of both curves.

Cost: at most :data:`EXTRA_PER_FEATURE` x n prompts the run has not scored yet
(coalitions the method already scored, e.g. every coalition of exact Shapley, are
reused). The budget goes first to the sequence-level curves, then to random
orders, then to each output token's own curves; what the budget cannot pay for
is left out and counted in ``skipped``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

EXTRA_PER_FEATURE = 2
"""Faithfulness scores at most this many new prompts per feature."""
RANDOM_ORDERS = 8
"""The most random orders the random baseline averages over."""
MAX_STEPS = 8
"""Above this many features the curves are scored at this many + 1 evenly spaced points, not at every k."""
RANDOM_TRIES = 4
"""Random orders drawn per one kept (an order too costly for the budget is passed over)."""
SEED_SALT = 7
"""Mixed into the run's seed so the random orders differ from the method's own samples."""


class Coalitions(Protocol):
    """Scores of coalitions (boolean masks, True = feature present) for the run's target.

    ``values`` returns a (masks x outputs) array: column 0 the sequence score, then
    one column per output token; ``scored`` says which masks are already known.
    """

    def scored(self, masks: np.ndarray) -> np.ndarray:
        """For each mask, whether its score is known without a new prompt."""
        ...

    def values(self, masks: np.ndarray) -> np.ndarray:
        """The scores of the masks (scoring those not yet known)."""
        ...


def ranking(attr: np.ndarray) -> np.ndarray:
    """Feature indices by attribution, largest first (ties keep prompt order)."""
    return np.argsort(-np.asarray(attr, dtype=float), kind="stable")


def curve_points(n: int) -> np.ndarray:
    """The numbers of features k at which the curves are scored: every k up to ``MAX_STEPS`` features,
    else about ``MAX_STEPS`` + 1 evenly spaced ones from 0 to n, k and n - k together (so long prompts
    leave budget for random orders, and a random deletion chain read backwards is an insertion chain)."""
    if n <= MAX_STEPS:
        return np.arange(n + 1)
    lower = np.floor(np.linspace(0, n / 2, MAX_STEPS // 2 + 1)).astype(np.int64)
    return np.unique(np.concatenate([lower, n - lower]))  # symmetric: k and n - k both


def deletion_masks(order: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
    """Row j: every feature present except the first k of ``order``, for k in ``points`` (default 0..n)."""
    n = len(order)
    points = np.arange(n + 1) if points is None else points
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank[None, :] >= np.asarray(points)[:, None]


def insertion_masks(order: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
    """Row j: only the first k features of ``order`` present, for k in ``points`` (default 0..n)."""
    return ~deletion_masks(order, points)


def aopc_deletion(curve: np.ndarray) -> float:
    """Mean over k of ``curve[0] - curve[k]`` (the mean comprehensiveness)."""
    curve = np.asarray(curve, dtype=float)
    return float(np.mean(curve[0] - curve))


def aopc_insertion(curve: np.ndarray) -> float:
    """Mean over k of ``curve[k] - curve[0]`` (how much the top features alone recover)."""
    curve = np.asarray(curve, dtype=float)
    return float(np.mean(curve - curve[0]))


def _unscored(coalitions: Coalitions, masks: np.ndarray, planned: set[bytes]) -> list[bytes]:
    """Distinct masks (as bytes) that are neither scored nor already planned."""
    known = coalitions.scored(masks)
    out: list[bytes] = []
    for mask, is_known in zip(masks, known):
        key = np.packbits(mask).tobytes()
        if not is_known and key not in planned and key not in out:
            out.append(key)
    return out


class _Budget:
    """New prompts left to spend; a chain of masks is taken whole or not at all."""

    def __init__(self, coalitions: Coalitions, limit: int) -> None:
        self.coalitions = coalitions
        self.left = limit
        self.planned: set[bytes] = set()

    def take(self, masks: np.ndarray) -> bool:
        """Reserve the new prompts ``masks`` need; False (nothing reserved) when they do not fit."""
        new = _unscored(self.coalitions, masks, self.planned)
        if len(new) > self.left:
            return False
        self.left -= len(new)
        self.planned.update(new)
        return True


def _ratio(value: float, random_mean: float) -> float | None:
    """How many times the random figure ``value`` is, when both are positive; else None."""
    if value > 0 and random_mean > 0:
        return value / random_mean
    return None


def _curves(points: np.ndarray, values_del: np.ndarray, values_ins: np.ndarray) -> dict[str, Any]:
    """Curves and areas of one order, from its deletion and insertion scores at ``points``."""
    top = values_del[0]
    return {
        "k": points.tolist(),
        "deletion": values_del.tolist(),
        "insertion": values_ins.tolist(),
        "comprehensiveness": (top - values_del).tolist(),
        "sufficiency": (top - values_ins).tolist(),
        "aopc_deletion": aopc_deletion(values_del),
        "aopc_insertion": aopc_insertion(values_ins),
    }


def _random_summary(chains: list[np.ndarray]) -> dict[str, Any]:
    """Mean curves and the mean and spread (standard deviation) of both areas over random chains.

    ``chains`` holds each random order's deletion scores (k = 0..n); read backwards they
    are the insertion scores of the reversed order.
    """
    if not chains:
        return {"orders": 0}
    dels = np.vstack(chains)
    ins = dels[:, ::-1]
    a_del = np.array([aopc_deletion(c) for c in dels])
    a_ins = np.array([aopc_insertion(c) for c in ins])
    spread = len(chains) > 1
    return {
        "orders": len(chains),
        "deletion": dels.mean(axis=0).tolist(),
        "insertion": ins.mean(axis=0).tolist(),
        "aopc_deletion": float(a_del.mean()),
        "aopc_deletion_std": float(a_del.std(ddof=1)) if spread else None,
        "aopc_insertion": float(a_ins.mean()),
        "aopc_insertion_std": float(a_ins.std(ddof=1)) if spread else None,
    }


def _with_random(own: dict[str, Any], random: dict[str, Any]) -> dict[str, Any]:
    """One order's figures beside the random baseline's: the ratios (when both areas are positive)
    and the gains (this order's area minus the random mean, always defined)."""
    out = dict(own)
    out["random"] = random
    if random.get("orders"):
        for curve in ("deletion", "insertion"):
            out[f"ratio_{curve}"] = _ratio(own[f"aopc_{curve}"], random[f"aopc_{curve}"])
            out[f"gain_{curve}"] = own[f"aopc_{curve}"] - random[f"aopc_{curve}"]
    return out


def faithfulness(
    coalitions: Coalitions,
    seq_attr: np.ndarray,
    token_attr: np.ndarray | None,
    seed: int,
    budget: int | None = None,
    orders: np.ndarray | None = None,
) -> dict[str, Any]:
    """Deletion and insertion curves of an attribution, beside random orders' (the result's ``faithfulness``).

    Args:
        coalitions: scores coalitions of the run's features (reusing those already scored).
        seq_attr: one attribution per feature (the sequence's).
        token_attr: output tokens x features, or None.
        seed: the run's seed (the random orders are drawn from it).
        budget: the most new prompts (default ``EXTRA_PER_FEATURE`` x n).
        orders: random orders the method already scored whole (Shapley sampling's orderings),
            tried before fresh ones from the seed.

    Returns:
        ``{"k", "sequence", "tokens", "extra_prompts", "budget", "skipped"}``: ``sequence``
        holds the curves and areas of the attribution's order with the random baseline
        (``random``) and the ratios; ``tokens`` one such entry per output token (None
        where the budget did not reach).
    """
    seq_attr = np.asarray(seq_attr, dtype=float)
    n = len(seq_attr)
    points = curve_points(n)
    limit = EXTRA_PER_FEATURE * n if budget is None else int(budget)
    plan = _Budget(coalitions, limit)
    seq_order = ranking(seq_attr)
    seq_masks = np.vstack([deletion_masks(seq_order, points), insertion_masks(seq_order, points)])
    seq_ok = plan.take(seq_masks)
    rng = np.random.default_rng([int(seed), SEED_SALT])
    random_orders: list[np.ndarray] = []
    given = [np.asarray(o) for o in orders[:RANDOM_ORDERS]] if orders is not None else []
    for i in range(len(given) + RANDOM_ORDERS * RANDOM_TRIES):
        if len(random_orders) == RANDOM_ORDERS:
            break
        order = given[i] if i < len(given) else rng.permutation(n)
        if plan.take(deletion_masks(order, points)):
            random_orders.append(order)
    rows = np.asarray(token_attr, dtype=float) if token_attr is not None and len(token_attr) else None
    token_orders = [ranking(row) for row in rows] if rows is not None else []
    token_ok = [
        plan.take(np.vstack([deletion_masks(o, points), insertion_masks(o, points)])) for o in token_orders
    ]

    masks = [deletion_masks(o, points) for o in random_orders]
    if seq_ok:
        masks += [deletion_masks(seq_order, points), insertion_masks(seq_order, points)]
    for order, ok in zip(token_orders, token_ok):
        if ok:
            masks += [deletion_masks(order, points), insertion_masks(order, points)]
    if masks:
        stacked = np.vstack(masks)
        new_before = len(_unscored(coalitions, stacked, set()))
        values = coalitions.values(stacked)
    else:
        new_before, values = 0, np.zeros((0, 1))
    step = len(points)
    blocks = [values[i * step : (i + 1) * step] for i in range(len(masks))]
    random_blocks = blocks[: len(random_orders)]
    rest = blocks[len(random_orders) :]

    sequence: dict[str, Any] | None = None
    if seq_ok:
        own = _curves(points, rest[0][:, 0], rest[1][:, 0])
        sequence = _with_random(own, _random_summary([b[:, 0] for b in random_blocks]))
        rest = rest[2:]
    tokens: list[dict[str, Any] | None] = []
    for t, ok in enumerate(token_ok):
        if not ok:
            tokens.append(None)
            continue
        own = _curves(points, rest[0][:, t + 1], rest[1][:, t + 1])
        tokens.append(_with_random(own, _random_summary([b[:, t + 1] for b in random_blocks])))
        rest = rest[2:]
    return {
        "k": points.tolist(),
        "sequence": sequence,
        "tokens": tokens if rows is not None else None,
        "extra_prompts": new_before,
        "budget": limit,
        "skipped": {
            "sequence": not seq_ok,
            "random_orders": RANDOM_ORDERS - len(random_orders),
            "tokens": sum(1 for ok in token_ok if not ok),
        },
    }


class MaskTable:
    """``Coalitions`` over a value function, with every coalition it has scored kept (by mask).

    Args:
        value_fn: scores a (k x n) mask matrix, returning (k x outputs).
        known: masks already scored, and their values (optional).
    """

    def __init__(self, value_fn: Any, known: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.value_fn = value_fn
        self.table: dict[bytes, np.ndarray] = {}
        self.new_prompts = 0
        if known is not None:
            for mask, row in zip(*known):
                self.table[np.packbits(mask).tobytes()] = np.asarray(row, dtype=float)

    def scored(self, masks: np.ndarray) -> np.ndarray:
        """For each mask, whether it is in the table."""
        return np.array([np.packbits(m).tobytes() in self.table for m in masks], dtype=bool)

    def values(self, masks: np.ndarray) -> np.ndarray:
        """The masks' values, scoring the distinct ones not in the table in one call."""
        keys = [np.packbits(m).tobytes() for m in masks]
        todo: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if key not in self.table and key not in todo:
                todo[key] = i
        if todo:
            new = np.asarray(self.value_fn(masks[list(todo.values())]), dtype=float)
            self.new_prompts += len(todo)
            for key, row in zip(todo, new):
                self.table[key] = row
        return np.vstack([self.table[k] for k in keys])
