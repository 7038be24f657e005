"""The prefix tree of scored rows: which tokens the model must run, and in which pieces.

A row is a prompt and a target (token ids). Scoring it by teacher forcing needs
the model's output after every position from the prompt's last token to the
target's second-to-last: the row's *input* is ``prompt + target[:-1]`` and its
*reads* are (position, next token) pairs. The output after a position depends
only on the tokens up to it, so rows whose inputs share a prefix need that
prefix run through the model once.

:func:`build_tree` inserts the rows' inputs into a compressed trie (a radix tree,
built from their lexicographic order without recursion) and cuts it into
*chains*: a chain follows the trie from a branch point down to a leaf, always
taking the child with the most rows below it (heavy-path decomposition), so a
row's inputs cross at most about log2(rows) chains. A chain is run in one model
call, batched with other chains, on the key/value cache of the chains above it
up to where it branches off; its reads are the positions of its rows' targets
that lie in it. Every token of the trie is in exactly one chain: the tokens the
model runs are the trie's, :func:`prefix_tree_tokens`, whatever the batching.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class Read:
    """One target token's log-probability: read at ``offset`` of its chain, for ``row``'s ``k``-th target token."""

    offset: int
    token: int
    row: int
    k: int


@dataclass
class Chain:
    """Tokens run in one piece, after the cache of its parent chain up to ``start``.

    Attributes:
        index: position in ``PrefixTree.chains``.
        parent: the chain it branches off (-1: it starts at position 0, on an empty cache).
        start: position (in its rows' inputs) of its first token; the cache it needs covers 0..start.
        tokens: the token ids it runs.
        generation: chains above it (0 for a chain that starts at position 0).
        children: chains that branch off it.
        reads: the target tokens read in it.
        finishing: rows whose last target token is read in it (they are done once it has run).
    """

    index: int
    parent: int
    start: int
    tokens: tuple[int, ...]
    generation: int
    children: list[int] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    finishing: int = 0

    @property
    def end(self) -> int:
        """Position after its last token."""
        return self.start + len(self.tokens)


@dataclass
class PrefixTree:
    """The chains of a set of rows and what they save.

    Attributes:
        chains: every chain, parents before children.
        computed_tokens: tokens the model runs (the trie's tokens).
        whole_tokens: tokens of the rows scored each whole (prompt + target, as a plain scorer runs them).
    """

    chains: list[Chain]
    computed_tokens: int
    whole_tokens: int


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common prefix of two tuples (binary search on slices: compared in C)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:  # a[:lo] == b[:lo] and a[:hi + 1] != b[:hi + 1]... narrowed to the first difference
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def prefix_tree_tokens(sequences: Iterable[Sequence[int]], sizes: Sequence[float] | None = None) -> float:
    """Tokens a prefix tree over ``sequences`` holds: each distinct prefix counted once.

    Args:
        sequences: token ids (or ids of pieces of text, with ``sizes``).
        sizes: when the items are pieces, the tokens of piece i (None: each item is one token).

    This is the work the scorer does for rows whose inputs are ``sequences``
    (:func:`row_inputs`): the sum over their lexicographic order of each one's
    length beyond its longest common prefix with the one before.
    """
    total = 0.0
    prev: tuple[int, ...] = ()
    for seq in sorted(set(tuple(int(t) for t in s) for s in sequences)):
        lcp = _lcp(prev, seq)
        total += (len(seq) - lcp) if sizes is None else sum(sizes[t] for t in seq[lcp:])
        prev = seq
    return total


def row_inputs(rows: Iterable[tuple[Sequence[int], Sequence[int]]]) -> list[tuple[int, ...]]:
    """What the model runs for each (prompt, target) row: the prompt and the target but its last token."""
    return [tuple(int(t) for t in prompt) + tuple(int(t) for t in target[:-1]) for prompt, target in rows]


def computed_tokens(rows: Iterable[tuple[Sequence[int], Sequence[int]]]) -> int:
    """Tokens the prefix-tree scorer runs through the model for these (prompt ids, target ids) rows."""
    return int(prefix_tree_tokens(row_inputs(rows)))


# ---------------------------------------------------------------- the tree


@dataclass
class _Node:
    start: int
    end: int
    ref: int  # a sorted input that passes through the node (its tokens are ref[start:end])
    parent: int = -1
    children: list[int] = field(default_factory=list)
    ending: list[int] = field(default_factory=list)  # sorted inputs whose last token is in the node


def build_tree(rows: Sequence[tuple[int, tuple[int, ...]]], share: bool = True) -> PrefixTree:
    """The prefix tree of distinct rows, each given as (prompt length, prompt + target ids).

    With ``share`` False every row is its own chain from position 0 (scoring each row whole,
    the reference the tree is checked against).
    """
    inputs = [seq[:-1] for _, seq in rows]
    whole = sum(len(seq) for _, seq in rows)
    if not share:
        chains = [Chain(i, -1, 0, seq, 0) for i, (_, seq) in enumerate(rows)]
        for i, (prompt_len, seq) in enumerate(rows):
            chains[i].reads = [Read(t, seq[t + 1], i, t - prompt_len + 1) for t in range(prompt_len - 1, len(seq) - 1)]
            chains[i].finishing = 1
        return PrefixTree(chains, whole, whole)
    distinct = sorted(set(inputs))
    nodes = _trie(distinct)
    chain_of, chains = _chains(nodes, distinct)
    terminal = [0] * len(distinct)
    for n, node in enumerate(nodes):
        for ref in node.ending:
            terminal[ref] = n
    by_input = {seq: n for n, seq in enumerate(distinct)}
    for row, (prompt_len, seq) in enumerate(rows):
        node = terminal[by_input[inputs[row]]]
        chains[chain_of[node]].finishing += 1
        top = len(seq) - 2  # the last position read
        while True:  # up from the node of the row's last token to that of its prompt's last token
            chain = chains[chain_of[node]]
            low = max(nodes[node].start, prompt_len - 1)
            chain.reads.extend(Read(t - chain.start, seq[t + 1], row, t - prompt_len + 1) for t in range(low, top + 1))
            if low == prompt_len - 1:
                break
            top, node = low - 1, nodes[node].parent
    computed = sum(len(c.tokens) for c in chains)
    return PrefixTree(chains, computed, whole)


def _trie(distinct: list[tuple[int, ...]]) -> list[_Node]:
    """The compressed trie of sorted distinct sequences (node 0: the empty root), without recursion."""
    nodes = [_Node(0, 0, 0)]
    stack = [0]  # the path of the previous sequence
    prev: tuple[int, ...] = ()
    for ref, seq in enumerate(distinct):
        lcp = _lcp(prev, seq)
        while len(stack) > 1 and nodes[stack[-1]].start >= lcp:
            stack.pop()
        top = stack[-1]
        node = nodes[top]
        if node.end > lcp:  # the new sequence leaves this node inside it: split it there
            tail = _Node(lcp, node.end, node.ref, top, node.children, [r for r in node.ending if len(distinct[r]) > lcp])
            nodes.append(tail)
            for child in tail.children:
                nodes[child].parent = len(nodes) - 1
            node.end, node.children = lcp, [len(nodes) - 1]
            node.ending = [r for r in node.ending if len(distinct[r]) <= lcp]
        if top != 0 and not node.children and node.end == len(prev):
            node.end, node.ref = len(seq), ref  # the previous sequence is a prefix of this one: grow its leaf
            node.ending.append(ref)
        else:
            nodes.append(_Node(lcp, len(seq), ref, top, [], [ref]))
            node.children.append(len(nodes) - 1)
            stack.append(len(nodes) - 1)
        prev = seq
    return nodes


def _chains(nodes: list[_Node], distinct: list[tuple[int, ...]]) -> tuple[list[int], list[Chain]]:
    """Cut the trie into chains along its heaviest children; returns each node's chain and the chains."""
    order = [0]  # pre-order, without recursion
    for n in order:
        order.extend(nodes[n].children)
    weight = [0] * len(nodes)
    for n in reversed(order):
        node = nodes[n]
        weight[n] = sum(weight[c] for c in node.children) if node.children else 1
    chain_of = [-1] * len(nodes)
    chains: list[Chain] = []
    heads: list[tuple[int, int, int]] = [(c, -1, 0) for c in nodes[0].children]  # (first node, parent chain, generation)
    while heads:
        first, parent, generation = heads.pop()
        index = len(chains)
        n = first
        while True:
            chain_of[n] = index
            kids = nodes[n].children
            if not kids:
                break
            heavy = max(kids, key=lambda c: weight[c])
            heads.extend((c, index, generation + 1) for c in kids if c != heavy)
            n = heavy
        start = nodes[first].start
        chain = Chain(index, parent, start, distinct[nodes[n].ref][start : nodes[n].end], generation)
        chains.append(chain)
        if parent >= 0:
            chains[parent].children.append(index)
    return chain_of, chains


def attach_to_held(tree: PrefixTree, held: tuple[int, ...]) -> int:
    """Hang the tree's chains that start at position 0 on a chain run before, whose cache is held (``held``: its tokens).

    Each such chain gives the tokens it shares with ``held`` (up to its first read) to the held chain and
    starts after them; its branches inside that part hang on the held chain. The held chain is appended
    to ``tree.chains`` (no reads, already run) and ``tree.computed_tokens`` drops by the tokens given.
    Returns the held chain's index, or -1 (the tree unchanged) when no chain shares a token with it.
    """
    anchor = Chain(len(tree.chains), -1, 0, held, 0)
    for chain in [c for c in tree.chains if c.parent < 0]:
        first_read = min((r.offset for r in chain.reads), default=len(chain.tokens))
        cut = min(_lcp(chain.tokens, held), first_read, len(chain.tokens) - 1)
        if cut <= 0:
            continue
        kept = []
        for index in chain.children:
            child = tree.chains[index]
            if child.start <= cut:  # it branches off inside the shared part: the held chain has its past
                child.parent = anchor.index
                anchor.children.append(index)
            else:
                kept.append(index)
        chain.children = kept
        chain.tokens, chain.start, chain.parent = chain.tokens[cut:], cut, anchor.index
        for read in chain.reads:
            read.offset -= cut
        anchor.children.append(chain.index)
        tree.computed_tokens -= cut
    if not anchor.children:
        return -1
    tree.chains.append(anchor)
    return anchor.index
