"""Hierarchical attribution over a source tree: paragraphs first, then inside the paragraphs that matter.

The game is ``v(S)``, the answer's score with only the leaves in ``S`` kept. The root's game has
the paragraphs as players; a node's game has its children as players, each read *inside the
node's coalition*:

    u_k(T) = sum over contexts (R, w):  w * (v(R + leaves of T) - v(R))

- ``contexts="owen"``: every coalition R of the node's siblings (and, further up, of its
  ancestors' siblings), weighted as Shapley weighs coalitions at each level. With exact Shapley
  at every node these are the Owen values of the partition (Owen 1977): a sentence's value is
  its Shapley value inside its paragraph, averaged over the coalitions of the other paragraphs,
  and the values of a node's children add up to the node's.
- ``contexts="document"`` (the default): one context, the rest of the document present; the
  children's values are then shifted equally so that they add up to the node's value.

A long document is first read in groups: with more than ``GROUP_ABOVE`` paragraphs (and a level
under them), about the square root of their number of groups of neighbouring paragraphs go between
the root and the paragraphs, and the groups, then the paragraphs inside the groups opened, are read
by leave-one-out whatever the method (in document contexts). Each ablation recomputes the document
from its first removed source on, so a first picture from a handful of groups costs a few readings
of the document instead of one per paragraph.

Refinement is adaptive: the root's children are valued first; at each next level only the
``refine`` nodes of largest absolute value are opened, while the forward-pass allowance lasts, each
given a share of the passes left in proportion to its absolute value among the nodes still to open
(so the node that matters most is read by a method that sees its children together, when the passes
pay for one, rather than all of them by leave-one-out).
A node not opened hands its value down to its children in proportion to their leaves
(``refined`` False), so cost grows with what matters, not with the document's length. After each
level that has a level under it, ``on_level`` is handed the values so far (the paragraphs' first,
while the sentences inside them are still being measured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from math import ceil, factorial, sqrt

import numpy as np

from core.probes.documents.node_methods import NodeValues, cost, ends_scored, node_values
from core.probes.documents.sources import SourceTree, with_groups

LeafValueFn = Callable[[np.ndarray], np.ndarray]
LevelFn = Callable[["TreeValues"], None]
GROUP_ABOVE = 10
"""A document of more paragraphs than this is first read in groups of neighbouring paragraphs."""
CONTEXTS = ("document", "owen")
"""How a node's game reads its children: inside the rest of the document, or over every coalition (Owen)."""


class Memo:
    """The game's value of leaf masks, each distinct mask asked of ``value_fn`` once (a forward pass each)."""

    def __init__(self, value_fn: LeafValueFn) -> None:
        self.value_fn = value_fn
        self.known: dict[bytes, float] = {}

    @property
    def passes(self) -> int:
        """Distinct masks scored so far."""
        return len(self.known)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """Values of the rows of ``masks`` (new ones scored in one call)."""
        keys = [np.packbits(m).tobytes() + bytes([len(m) % 8]) for m in masks]
        todo = {}
        for key, mask in zip(keys, masks):
            if key not in self.known and key not in todo:
                todo[key] = mask
        if todo:
            values = np.asarray(self.value_fn(np.vstack(list(todo.values()))), dtype=float)
            self.known.update(zip(todo, values.tolist()))
        return np.array([self.known[k] for k in keys])


@dataclass
class TreeValues:
    """Every node's value (root: all kept minus none), its standard error, whether it was refined, and how;
    the forward passes it took and the scores with every leaf and with none; ``groups``: the paragraphs of each group
    the document was first read in (none: not grouped), and ``grouped_only`` whether no paragraph has been
    measured yet (a first result from the groups)."""

    values: np.ndarray
    stderr: np.ndarray
    refined: np.ndarray
    methods: list[str]
    passes: int
    full: float
    empty: float
    groups: tuple[tuple[int, ...], ...] = ()
    grouped_only: bool = False


def _shapley_weight(size: int, players: int) -> float:
    return factorial(size) * factorial(players - size - 1) / factorial(players)


def _leaf_mask(n: int, leaves: tuple[int, ...] | list[int]) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[list(leaves)] = True
    return mask


class _Game:
    """A node's game over its children, inside its contexts."""

    def __init__(
        self, memo: Memo, tree: SourceTree, node: int, contexts: list[tuple[np.ndarray, float]]
    ) -> None:
        n = len(tree.leaves)
        self.memo = memo
        self.sets = [_leaf_mask(n, tree.under[k]) for k in tree.children[node]]
        self.contexts = contexts

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        kept = np.array(
            [
                np.any([s for s, t in zip(self.sets, row) if t], axis=0)
                if row.any()
                else np.zeros_like(self.sets[0])
                for row in masks
            ]
        )
        rs = np.vstack([r for r, _ in self.contexts])
        weights = np.array([w for _, w in self.contexts])
        rows = (kept[:, None, :] | rs[None, :, :]).reshape(-1, kept.shape[1])
        values = self.memo(np.vstack([rows, rs]))
        inside = values[: len(rows)].reshape(len(masks), len(rs))
        return (inside - values[len(rows) :][None, :]) @ weights


def _child_contexts(
    tree: SourceTree, node: int, contexts: list[tuple[np.ndarray, float]]
) -> dict[int, list[tuple[np.ndarray, float]]]:
    """Owen contexts of each child: the node's contexts joined with every coalition of its siblings."""
    kids = tree.children[node]
    n = len(tree.leaves)
    out = {}
    for kid in kids:
        others = [k for k in kids if k != kid]
        made = []
        for r, w in contexts:
            for size in range(len(others) + 1):
                weight = w * _shapley_weight(size, len(kids))
                for group in combinations(others, size):
                    leaves = [i for k in group for i in tree.under[k]]
                    made.append((r | _leaf_mask(n, leaves), weight))
        out[kid] = made
    return out


def hierarchical_values(
    tree: SourceTree,
    value_fn: LeafValueFn,
    method: str,
    passes: int,
    refine: int,
    contexts: str = "document",
    rng: np.random.Generator | None = None,
    on_level: LevelFn | None = None,
) -> TreeValues:
    """Every node's value: the root's children in the plain game, then refined top-down (module docstring).

    Args:
        tree: the document's sources.
        value_fn: the score of each row of a leaf mask matrix (True: the leaf is kept).
        method: how each node's children are valued (``node_methods.NODE_METHODS``).
        passes: the forward-pass allowance (distinct leaf masks), the full and empty ones included.
        refine: the most nodes opened per level below the root.
        contexts: "document" or "owen" (see the module docstring).
        rng: draws the sampled methods' coalitions.
        on_level: handed the values so far after each level that has a level under it (the nodes not
            yet measured share their parent's value, ``refined`` False).
    """
    rng = rng or np.random.default_rng(0)
    n = len(tree.leaves)
    memo = Memo(value_fn)
    shown = len(tree.spans)  # the caller's nodes; groups, if any, come after them
    deeper = max(tree.depth) > 1
    groups: tuple[int, ...] = ()
    paragraphs = len(tree.children[0])
    if contexts == "document" and deeper and paragraphs > GROUP_ABOVE:
        tree, groups = with_groups(tree, ceil(sqrt(paragraphs)))
    by_groups = frozenset((0, *groups)) if groups else frozenset()
    size = len(tree.spans)
    values, stderr = np.full(size, np.nan), np.zeros(size)
    refined = np.zeros(size, dtype=bool)
    methods = [""] * size
    ends = memo(np.vstack([np.ones(n, bool), np.zeros(n, bool)]))
    values[0], refined[0] = ends[0] - ends[1], True
    owen_ctx: dict[int, list[tuple[np.ndarray, float]]] = {0: [(np.zeros(n, bool), 1.0)]}
    frontier, level = [0], 0

    def so_far() -> TreeValues:
        found = _shared_down(tree, values, stderr, refined, methods, memo.passes, ends)
        return _without_groups(found, shown, tuple(tree.children[g] for g in groups))

    while frontier:
        opened = 0
        ranked = sorted((f for f in frontier if tree.children[f]), key=lambda f: -abs(values[f]))
        following = []
        for idx, node in enumerate(ranked):
            kids = tree.children[node]
            c = len(kids)
            left = passes - memo.passes
            node_method = "leave_one_out" if node in by_groups else method
            if node in by_groups:
                allowance = c + 1
            elif node == 0:
                allowance = passes if not deeper else max(passes // 2, min(c + 1, passes - 2))
            else:
                upcoming = ranked[idx : idx + max(1, refine - opened)]
                allowance = max(c + 1, int(left * _share_of_what_matters(values, upcoming)))
            # In document contexts the node's game with all and with none of its children is known already.
            known = ends_scored(node_method, c, allowance) if contexts == "document" else 0
            if level > 0 and (opened >= refine or cost(node_method, c, allowance) - known > max(left, 0)):
                continue
            if contexts == "owen":
                ctx = owen_ctx[node]
            else:
                ctx = [(~_leaf_mask(n, tree.under[node]), 1.0)]
            game = _Game(memo, tree, node, ctx)
            found: NodeValues = node_values(game, c, node_method, allowance, rng)
            got = found.values.astype(float)
            se = np.zeros(c) if found.stderr is None else np.asarray(found.stderr, dtype=float)
            if node != 0 and contexts != "owen":
                got = got + (values[node] - got.sum()) / c
                se = np.sqrt(se**2 + (stderr[node] / c) ** 2)
            for kid, value, error in zip(kids, got, se):
                values[kid], stderr[kid], refined[kid] = value, error, True
                methods[kid] = found.method
            if contexts == "owen":
                owen_ctx.update(_child_contexts(tree, node, ctx))
            following.extend(kids)
            opened += node != 0
        frontier, level = following, level + 1
        if on_level is not None and any(tree.children[f] for f in frontier):
            on_level(so_far())
    return so_far()


def _share_of_what_matters(values: np.ndarray, upcoming: list[int]) -> float:
    """The share of the passes left that the first of the nodes still to open at this level gets: its part of
    their absolute values (equal parts when they are all zero), so that the node that matters most is read
    with the method its size pays for (paired Kernel SHAP or exact Shapley, which see how its children act
    together) rather than every node by leave-one-out."""
    sizes = np.abs(values[upcoming])
    total = float(sizes.sum())
    return float(sizes[0]) / total if total > 0 else 1.0 / len(upcoming)


def _without_groups(found: TreeValues, shown: int, groups: tuple[tuple[int, ...], ...]) -> TreeValues:
    """The values of the caller's nodes only (the groups, appended after them, left out; ``groups``: their
    paragraphs)."""
    if not groups:
        return found
    return TreeValues(
        found.values[:shown],
        found.stderr[:shown],
        found.refined[:shown],
        found.methods[:shown],
        found.passes,
        found.full,
        found.empty,
        groups,
        not found.refined[1:shown].any(),
    )


def _shared_down(
    tree: SourceTree,
    values: np.ndarray,
    stderr: np.ndarray,
    refined: np.ndarray,
    methods: list[str],
    passes: int,
    ends: np.ndarray,
) -> TreeValues:
    """The values so far, every node not measured given its parent's value in proportion to its leaves."""
    values, stderr = values.copy(), stderr.copy()
    for node in sorted(range(1, len(tree.spans)), key=lambda k: tree.depth[k]):
        if not refined[node]:
            parent = tree.parent[node]
            share = len(tree.under[node]) / max(len(tree.under[parent]), 1)
            values[node], stderr[node] = values[parent] * share, stderr[parent] * share
    return TreeValues(values, stderr, refined.copy(), list(methods), passes, float(ends[0]), float(ends[1]))
