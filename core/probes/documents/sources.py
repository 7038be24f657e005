"""A document cut into sources, as a tree: paragraphs, then their sentences, then their words.

Every node is a span of the document's characters. The *leaves* are the sources at the
finest level asked for; a leaf's *piece* is its text with the whitespace before it, so the
pieces of all leaves joined (with the document's trailing text) give the document back, and
removing a leaf removes its piece. Sentences come from the project's sentence splitter
(``core.attribution.features``: abbreviations, decimals and quotes handled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.attribution.features import segment_spans, sentence_spans

LEVELS = ("paragraph", "sentence", "word")
"""The levels of the tree, coarse to fine."""
SHARE_OF = {"paragraph": "its group of paragraphs", "sentence": "its paragraph", "word": "its sentence"}
"""Whose value a source not measured itself shows a share of (by its length), by level."""


@dataclass(frozen=True)
class SourceTree:
    """The sources of a document.

    Attributes:
        text: the document.
        level: the finest level (one of ``LEVELS``).
        spans: (start, end) characters of each node; node 0 is the whole document (the root).
        depth: each node's level, 0 for the root, 1 for paragraphs, 2 for sentences, 3 for words.
        parent: each node's parent (-1 for the root).
        children: each node's children, in document order.
        leaves: the leaf nodes in document order (the sources attributed at the finest level).
        under: for each node, the indices (into ``leaves``) of the leaves below it, or itself.
    """

    text: str
    level: str
    spans: tuple[tuple[int, int], ...]
    depth: tuple[int, ...]
    parent: tuple[int, ...]
    children: tuple[tuple[int, ...], ...]
    leaves: tuple[int, ...]
    under: tuple[tuple[int, ...], ...]

    def source_text(self, node: int) -> str:
        """The node's own text (no surrounding whitespace)."""
        start, end = self.spans[node]
        return self.text[start:end]

    def pieces(self) -> list[str]:
        """Each leaf's text with the whitespace before it (the first from the document's start)."""
        out, pos = [], 0
        for node in self.leaves:
            _start, end = self.spans[node]
            out.append(self.text[pos:end])
            pos = end
        return out

    def tail(self) -> str:
        """The document's text after its last leaf (trailing whitespace)."""
        return self.text[self.spans[self.leaves[-1]][1] :] if self.leaves else self.text


def _inner(text: str, start: int, end: int, depth: int) -> list[tuple[int, int]]:
    """Spans (absolute) of the sources one level below the span ``start:end`` at ``depth``."""
    piece = text[start:end]
    if depth == 1:
        spans = segment_spans(piece, "paragraph")
    elif depth == 2:
        spans = sentence_spans(piece)
    else:
        spans = segment_spans(piece, "word")
    return [(start + s, start + e) for s, e in spans]


def build_tree(text: str, level: str) -> SourceTree:
    """The source tree of ``text`` down to ``level`` (paragraph, sentence or word)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    finest = LEVELS.index(level) + 1
    spans: list[tuple[int, int]] = [(0, len(text))]
    depth, parent = [0], [-1]
    children: list[list[int]] = [[]]
    frontier = [0]
    for d in range(1, finest + 1):
        nxt = []
        for node in frontier:
            for span in _inner(text, *spans[node], d):
                spans.append(span)
                depth.append(d)
                parent.append(node)
                children.append([])
                children[node].append(len(spans) - 1)
                nxt.append(len(spans) - 1)
        frontier = nxt
    leaves = [n for n in range(len(spans)) if not children[n]] if len(spans) > 1 else []
    leaves.sort(key=lambda n: spans[n][0])
    position = {n: i for i, n in enumerate(leaves)}
    under: list[tuple[int, ...]] = [()] * len(spans)
    for node in sorted(range(len(spans)), key=lambda n: -depth[n]):
        if not children[node]:
            under[node] = (position[node],) if node in position else ()
        else:
            under[node] = tuple(i for c in children[node] for i in under[c])
    return SourceTree(
        text,
        level,
        tuple(spans),
        tuple(depth),
        tuple(parent),
        tuple(tuple(c) for c in children),
        tuple(leaves),
        tuple(under),
    )


def with_groups(tree: SourceTree, count: int) -> tuple[SourceTree, tuple[int, ...]]:
    """The tree with ``count`` groups of neighbouring paragraphs between the root and its paragraphs.

    The groups are new nodes appended after the tree's own (every node keeps its index), of sizes
    as equal as the paragraphs allow; below the root, every depth is one more. Returns the tree and
    the groups' nodes.
    """
    size = len(tree.spans)
    parts = [list(p) for p in np.array_split(np.array(tree.children[0]), count) if len(p)]
    groups = tuple(range(size, size + len(parts)))
    spans = list(tree.spans) + [(tree.spans[p[0]][0], tree.spans[p[-1]][1]) for p in parts]
    depth = [0] + [d + 1 for d in tree.depth[1:]] + [1] * len(parts)
    parent = list(tree.parent) + [0] * len(parts)
    children = [groups] + list(tree.children[1:]) + [tuple(int(k) for k in p) for p in parts]
    under = list(tree.under) + [tuple(i for k in p for i in tree.under[k]) for p in parts]
    for group, part in zip(groups, parts):
        for paragraph in part:
            parent[paragraph] = group
    return (
        SourceTree(
            tree.text, tree.level, tuple(spans), tuple(depth), tuple(parent), tuple(children), tree.leaves, tuple(under)
        ),
        groups,
    )
