"""The batched scorer: log-probabilities of target tokens after many prompts, through a prefix tree.

Teacher forcing: one forward pass over prompt + target gives every target
token's log-probability. Rows (prompt, target) are de-duplicated and their
inputs inserted into a prefix tree (``core.attribution.prefix_tree``): every
distinct prefix is run through the model once, in *chains* (a path of the tree
from a branch point down to a leaf). Chains are run in batches: each on the
key/value cache of the chains above it, left-padded to the batch's longest
(with an attention mask and each row's own positions), its new tokens padded
on the right; the LM head runs only where a target token is read. The deepest
chains go first and a chain's cache is released as soon as every chain below
it has run, so the caches held plus one batch stay within the memory budget
(``WHYLM_MEMORY_BUDGET_MB``) whatever the number of rows.

A progress callback receives (done, total) rows; a stop callback cancels
between batches. The model is shared with other runs batch by batch
(``core.models.sharing``): the scorer holds it while it scores and hands it on
between batches when another run has priority; before the first batch the
work (the tokens the tree computes, in whole rows) is counted against the run's work limit.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from core.attribution.prefix_tree import Chain, PrefixTree, attach_to_held, build_tree, computed_tokens
from core.errors import Cancelled
from core.models.backend import Backend, Scorer
from core.models.loading import LoadedModel
from core.models.output_head import text_body, text_config
from core.models.sharing import Turns, plan_forward_passes, plan_memory, plan_tokens, share_of
from core.runs.work import MODEL_CALL_TOKENS

__all__ = ["BatchedScorer", "computed_tokens", "default_memory_budget_mb", "scorer_for"]
HELD_SHARE = 0.25
"""The most of the memory budget the cache kept from one call for the next may take."""
BATCH_SHARE = 0.85
"""The share of the memory budget the caches held and a batch are planned within: the rest of the run (its
rows and coalitions, its results, the allocator's slack) keeps the other 15%. Measured: the few-shot 8 x 5
exact Shapley run peaked 1,052 MB above the loaded model against a 1,024 MB budget when batches were planned
to the whole budget."""

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


def default_memory_budget_mb(device: torch.device) -> float:
    """Memory the scorer may use for caches and one batch (``WHYLM_MEMORY_BUDGET_MB`` overrides)."""
    env = os.environ.get("WHYLM_MEMORY_BUDGET_MB")
    if env:
        return float(env)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free / 2**20 * 0.4
    return 1024.0


class BatchedScorer:
    """Scores target tokens after prompts with a loaded model.

    Args:
        lm: the loaded model.
        memory_budget_mb: bound on the caches held and one batch's activations (None: device default).
        progress: called with (rows done, rows total) after each batch.
        should_stop: polled between batches; when it returns True the scoring
            raises ``Cancelled``.
        share_prefix: run every shared prefix once (the prefix tree), unless its plan costs more than scoring
            each row whole (a small tree's extra model calls can outweigh the tokens it saves); False scores
            each row whole (the reference the tree is checked against).
        max_batch_rows: most chains in one batch (None: 64 on a CPU, 256 on a GPU).

    After scoring: ``forward_passes`` (distinct rows), ``model_calls`` (batches),
    ``tokens_processed`` (tokens run through the model), ``tokens_whole`` (tokens
    the same rows would take scored each whole) and ``peak_cache_bytes`` (the most
    cache memory held between batches).
    """

    def __init__(
        self,
        lm: LoadedModel,
        memory_budget_mb: float | None = None,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
        share_prefix: bool = True,
        max_batch_rows: int | None = None,
    ) -> None:
        self.lm = lm
        self.share = share_of(lm)
        self.device = lm.device
        self.budget_bytes = (memory_budget_mb or default_memory_budget_mb(lm.device)) * 2**20
        self.progress = progress
        self.should_stop = should_stop
        self.share_prefix = share_prefix
        self.max_batch_rows = max_batch_rows or (256 if self.device.type == "cuda" else 64)
        self.base = text_body(lm.model)
        self.head = lm.output_head  # float32 logits, as the model's forward makes them
        params = inspect.signature(self.base.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._cfg = text_config(lm.model)
        self._element_bytes = next(lm.model.parameters()).element_size()
        # Eager attention makes every head's score matrix; SDPA and flash attention do not (measured: one
        # 3,500-token row of the bundled model peaks at 349 MB, where the score matrices alone are 885 MB).
        implementation = getattr(self._cfg, "_attn_implementation", None) or getattr(
            lm.model.config, "_attn_implementation", "eager"
        )
        self._scores_materialised = implementation == "eager"
        self.call_cost_tokens = MODEL_CALL_TOKENS if self.device.type == "cpu" else 256  # a GPU: a few hundred
        self.whole_when_cheaper = True  # False: always the tree (tests of its mechanics)
        # The first call's longest row from position 0 (the whole prompt, as a rule) keeps its cache for the
        # calls after it: their rows start from it up to where they first differ (tokens, keys and values).
        self._held: tuple[tuple[int, ...], torch.Tensor] | None = None
        self.forward_passes = 0
        self.model_calls = 0
        self.tokens_processed = 0
        self.tokens_whole = 0
        self.peak_cache_bytes = 0
        self._turns: Turns | None = None

    # ------------------------------------------------------------ public

    def log_probs(self, rows: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[np.ndarray]:
        """Log-probability of each target token for each (prompt ids, target ids) row.

        Returns one float64 array of length len(target) per row, in input order.
        Identical rows are evaluated once.
        """
        keyed: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        order: list[int] = []
        uniq: list[tuple[int, tuple[int, ...]]] = []
        for prompt, target in rows:
            if len(prompt) == 0:
                raise ValueError("a prompt must have at least one token")
            if len(target) == 0:
                raise ValueError("a target must have at least one token")
            key = (tuple(int(t) for t in prompt), tuple(int(t) for t in target))
            if key not in keyed:
                keyed[key] = len(uniq)
                uniq.append((len(key[0]), key[0] + key[1]))
            order.append(keyed[key])
        if not uniq:
            return []
        tree = build_tree(uniq, share=self.share_prefix)
        held = -1
        if self.share_prefix and self._held is not None:
            held = attach_to_held(tree, self._held[0])
        if self.share_prefix and self.whole_when_cheaper:
            tree_cost = _TreeRun(self, tree, [], held).planned_cost()
            # Whole rows cost at least their tokens and one call: only a tree above that is planned against them.
            if tree.whole_tokens + self.call_cost_tokens <= tree_cost:
                whole = build_tree(uniq, share=False)
                if _TreeRun(self, whole, []).planned_cost() <= tree_cost:
                    tree, held = whole, -1  # a small tree's extra model calls cost more than the tokens it saves
        # The work limit counts the tokens the tree computes, in rows of the plan's mean length.
        plan_forward_passes(math.ceil(len(uniq) * tree.computed_tokens / tree.whole_tokens))
        plan_tokens(tree.computed_tokens)
        prompt_len, longest = max(uniq, key=lambda row: len(row[1]))
        plan_memory(self._row_bytes(len(longest), 0, len(longest) - prompt_len), self.budget_bytes)
        results = [np.zeros(len(seq) - prompt_len) for prompt_len, seq in uniq]
        with torch.inference_mode(), self.share.turns(self.should_stop) as turns:
            self._turns = turns
            try:
                _TreeRun(self, tree, results, held).run()
            finally:
                self._turns = None
        self.forward_passes += len(uniq)
        self.tokens_whole += tree.whole_tokens
        return [results[i].copy() for i in order]

    def summed_log_probs(
        self, prompt_ids: Sequence[Sequence[int]], continuation_ids: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """Log-probability of each continuation (summed over its tokens) after each prompt.

        Returns a prompts x continuations float array; all rows go to one ``log_probs``
        call, so each prompt's key/value cache is shared across its continuations.
        """
        rows = [(p, c) for p in prompt_ids for c in continuation_ids]
        sums = np.array([lp.sum() for lp in self.log_probs(rows)], dtype=float)
        return sums.reshape(len(prompt_ids), len(continuation_ids))

    # ------------------------------------------------------------ internals

    def _next_call(self) -> None:
        """Before each model call: stop if asked, then take (or keep) the model's turn."""
        if self.should_stop is not None and self.should_stop():
            raise Cancelled()
        if self._turns is not None:
            self._turns.next()

    def _shape(self) -> tuple[int, int, int, int, int, int, int]:
        """(layers, key/value heads, head size, hidden, intermediate, attention heads, vocabulary) from the config."""
        cfg = self._cfg
        hidden = int(getattr(cfg, "hidden_size", 1024))
        inter = int(getattr(cfg, "intermediate_size", 4 * hidden) or 4 * hidden)
        layers = int(getattr(cfg, "num_hidden_layers", 24))
        heads = int(getattr(cfg, "num_attention_heads", 16))
        kv_heads = int(getattr(cfg, "num_key_value_heads", heads) or heads)
        head_dim = int(getattr(cfg, "head_dim", None) or hidden // heads)
        vocab = int(getattr(cfg, "vocab_size", 50000))
        return layers, kv_heads, head_dim, hidden, inter, heads, vocab

    def cache_bytes_per_token(self) -> int:
        """Bytes of key/value cache one token takes (all layers)."""
        layers, kv_heads, head_dim, *_ = self._shape()
        return layers * 2 * kv_heads * head_dim * self._element_bytes

    def _row_bytes(self, suffix_len: int, prefix_len: int, target_len: int) -> float:
        """Memory one row of a batch takes: ``suffix_len`` new tokens after a cache of ``prefix_len``, ``target_len`` reads."""
        _layers, _kv, head_dim, hidden, inter, heads, vocab = self._shape()
        total = prefix_len + suffix_len
        size = self._element_bytes  # the model's dtype: 4 in float32, 2 in bfloat16 or float16
        kv_cache = self.cache_bytes_per_token() * (prefix_len + total)  # the padded cache, then it with the new tokens
        transient = suffix_len * (6 * hidden + 4 * inter) * size  # the MLP: gate, up, their product, the output
        if self._scores_materialised:  # eager attention: every head's scores, then their softmax
            attention = heads * suffix_len * total * size * 2
        else:  # SDPA / flash kernels work in blocks: the mask (at most 4 bytes a cell), keys and values per head
            attention = suffix_len * total * 4 + heads * total * head_dim * size * 2
        logits = target_len * vocab * (size + 4 * 2)  # the head's output, then float32 logits and log-softmax
        return float(kv_cache + transient + attention + logits)


def length_groups(lengths: Sequence[int], most: int, call_cost: float) -> list[tuple[int, int]]:
    """Cut chains of these lengths (longest first) into batches: (first, past-the-last) index pairs.

    A batch pads every chain to its first (longest) one, and each batch costs one model call, worth
    ``call_cost`` tokens; the cut minimises calls x ``call_cost`` + padded tokens, with at most ``most``
    chains a batch (dynamic programming over the sorted lengths: the best cut keeps neighbours together).
    """
    n = len(lengths)
    width = np.asarray(lengths, dtype=float)
    best = np.zeros(n + 1)
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        begin = max(0, end - most)
        costs = best[begin:end] + call_cost + (end - np.arange(begin, end)) * width[begin:end]
        pick = int(np.argmin(costs))
        best[end], cut[end] = costs[pick], begin + pick
    groups = []
    end = n
    while end > 0:
        groups.append((cut[end], end))
        end = cut[end]
    return groups[::-1]


class _FilledLayer(DynamicLayer):
    """A cache layer over a buffer that already holds the past and has room for the new tokens after it.

    ``update`` writes the new keys and values in place and returns the buffer up to them: the past is
    not copied again as the cache grows (DynamicLayer concatenates, copying it at every layer).
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, filled: int) -> None:
        super().__init__()
        self.buffer_keys, self.buffer_values, self.filled = keys, values, filled
        self.keys, self.values = keys[:, :, :filled], values[:, :, :filled]
        self.device, self.is_initialized = keys.device, True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new tokens' keys and values after the past; return the keys and values up to them."""
        end = self.filled + key_states.shape[-2]
        self.buffer_keys[:, :, self.filled : end] = key_states
        self.buffer_values[:, :, self.filled : end] = value_states
        self.filled = end
        self.keys, self.values = self.buffer_keys[:, :, :end], self.buffer_values[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        """Tokens held: the past, then the new tokens once written."""
        return self.filled


class _TreeRun:
    """One ``log_probs`` call's prefix tree run batch by batch: a pool of chains whose caches are ready."""

    def __init__(self, scorer: BatchedScorer, tree: PrefixTree, results: list[np.ndarray], held: int = -1) -> None:
        """``held``: the index of the chain whose cache the scorer holds from an earlier call (-1: none)."""
        self.scorer = scorer
        self.chains = tree.chains
        self.results = results
        self.caches: dict[int, torch.Tensor] = {}  # chain -> its tokens' keys and values (layers, 2, heads, n, dim)
        self.open = [len(c.children) for c in tree.chains]  # children whose subtree has not run yet
        self.anchor = held
        self.pool = [c.index for c in tree.chains if c.parent in (-1, held) and c.index != held]
        self.positions = [sorted({r.offset for r in c.reads}) for c in tree.chains]
        path = [0] * len(tree.chains)
        if held >= 0 and scorer._held is not None:
            self.caches[held] = scorer._held[1]
            path[held] = len(self.chains[held].tokens)
        self.held = sum(kept.numel() * kept.element_size() for kept in self.caches.values())
        # The chain that reaches furthest keeps the cache of its whole context (the longest row) for later
        # calls, if the scorer holds none yet and it takes at most HELD_SHARE of the budget.
        longest = max(tree.chains, key=lambda c: c.end)
        fits = longest.end * scorer.cache_bytes_per_token() <= HELD_SHARE * scorer.budget_bytes
        self.to_hold = longest.index if scorer._held is None and scorer.share_prefix and fits else -1
        # Kept free for the caches along one path of chains: when the budget is tight the deepest
        # chain runs alone (depth first), and what it keeps is at most one such path.
        for c in tree.chains:  # parents come first (a held chain, appended last, is set above)
            if c.index != held:
                path[c.index] = len(c.tokens) + (path[c.parent] if c.parent >= 0 else 0)
        self.reserve = max(path) * scorer.cache_bytes_per_token()
        self.done = 0
        self.total = sum(c.finishing for c in tree.chains)

    def run(self) -> None:
        """Run every chain, the deepest ready ones first, one batch per model call."""
        scorer = self.scorer
        while self.pool:
            batch = self._pick()
            scorer._next_call()
            self._run_batch(batch)
            if scorer.progress is not None:
                scorer.progress(self.done, self.total)

    def planned_cost(self) -> float:
        """The run's cost in tokens, without the model: each batch's padded tokens, plus one call's worth a batch."""
        cost = 0.0
        while self.pool:
            batch = self._pick()
            cost += self.scorer.call_cost_tokens + len(batch) * max(len(c.tokens) for c in batch)
            self.pool.extend(child for c in batch for child in c.children)
        return cost

    def _pick(self) -> list[Chain]:
        """The next batch: the deepest, longest ready chain and the ready chains of about its length that fit beside it.

        The ready chains, longest first, are cut into batches of neighbouring lengths so that one more model call
        is weighed against the padding it saves (:func:`length_groups`); the batch is the group of the deepest
        chain, less what does not fit the memory budget.
        """
        scorer = self.scorer
        chains = self.chains
        first = min(self.pool, key=lambda i: (-chains[i].generation, -len(chains[i].tokens), i))
        order = sorted(self.pool, key=lambda i: (-len(chains[i].tokens), -chains[i].generation, i))
        at = order.index(first)
        lo, hi = next(g for g in length_groups([len(chains[i].tokens) for i in order], scorer.max_batch_rows,
                                               scorer.call_cost_tokens) if g[0] <= at < g[1])
        head = chains[first]
        width = len(chains[order[lo]].tokens)
        past, reads = head.start, len(self.positions[first])
        keep = self._keep_bytes(head)
        chosen, taken = [head], {first}
        for i in order[lo:hi]:
            if i == first:
                continue
            chain = chains[i]
            p, r = max(past, chain.start), max(reads, len(self.positions[i]))
            k = keep + self._keep_bytes(chain)
            batch = (len(chosen) + 1) * scorer._row_bytes(width, p, r)
            if self.held + self.reserve + k + batch <= scorer.budget_bytes * BATCH_SHARE:
                chosen.append(chain)
                taken.add(i)
                past, reads, keep = p, r, k
        self.pool = [i for i in self.pool if i not in taken]
        return chosen

    def _keep_bytes(self, chain: Chain) -> int:
        """Cache memory a chain keeps after it has run (for the chains below it)."""
        return len(chain.tokens) * self.scorer.cache_bytes_per_token() if chain.children else 0

    def _context(self, chain: Chain) -> tuple[int, ...]:
        """The tokens from position 0 to a chain's end: its parents' up to where it branches off, then its own."""
        parts = [chain]
        while parts[-1].parent >= 0:
            parts.append(self.chains[parts[-1].parent])
        tokens: tuple[int, ...] = ()
        for part in reversed(parts):
            tokens = tokens[: part.start] + part.tokens
        return tokens

    def _segments(self, chain: Chain) -> list[tuple[torch.Tensor, int]]:
        """The cached pieces of a chain's past, in order: (cache of a chain above, tokens of it used)."""
        pieces = []
        upto, parent = chain.start, chain.parent
        while parent >= 0:
            above = self.chains[parent]
            pieces.append((self.caches[parent], upto - above.start))
            upto, parent = above.start, above.parent
        return pieces[::-1]

    def _run_batch(self, batch: list[Chain]) -> None:
        scorer = self.scorer
        device = scorer.device
        size = len(batch)
        width = max(len(c.tokens) for c in batch)
        past = max(c.start for c in batch)
        ids = torch.zeros((size, width), dtype=torch.long)
        positions = torch.zeros((size, width), dtype=torch.long)
        for r, chain in enumerate(batch):
            ids[r, : len(chain.tokens)] = torch.tensor(chain.tokens, dtype=torch.long)
            positions[r] = torch.arange(chain.start, chain.start + width)
        kwargs: dict[str, Any] = {"input_ids": ids.to(device), "position_ids": positions.to(device), "use_cache": True}
        if past:
            pieces = [self._segments(c) for c in batch]
            sample = next(piece for row in pieces for piece, _ in row)  # a row at position 0 has none
            layers, _, heads, _, dim = sample.shape
            # One buffer holds every row's past and, after it, the batch's new keys and values (no copies as it grows).
            buffer = torch.empty((layers, 2, size, heads, past + width, dim), dtype=sample.dtype, device=device)
            for r, chain in enumerate(batch):
                at = past - chain.start  # left padding: every row's past ends where its new tokens begin
                buffer[:, :, r, :, :at] = 0
                for piece, used in pieces[r]:
                    buffer[:, :, r, :, at : at + used] = piece[:, :, :, :used]
                    at += used
            del pieces
            if any(c.start != past for c in batch):
                mask = torch.ones((size, past + width), dtype=torch.long)
                for r, chain in enumerate(batch):
                    mask[r, : past - chain.start] = 0
                kwargs["attention_mask"] = mask.to(device)
            cache = DynamicCache()
            cache.layers = [_FilledLayer(buffer[layer, 0], buffer[layer, 1], past) for layer in range(layers)]
            del buffer
        else:
            cache = DynamicCache()
        kwargs[scorer._cache_kw] = cache
        hidden = scorer.base(**kwargs).last_hidden_state
        scorer.model_calls += 1
        scorer.tokens_processed += sum(len(c.tokens) for c in batch)
        self._read(batch, hidden)
        keys = [(layer.keys, layer.values) for layer in cache.layers]
        del hidden, cache
        for r, chain in enumerate(batch):
            self.done += chain.finishing
            n = len(chain.tokens)
            if chain.index == self.to_hold:  # its context and its tokens, for later calls (never released)
                context = slice(past - chain.start, past + n)
                whole = torch.stack([torch.stack((k[r, :, context], v[r, :, context])) for k, v in keys])
                scorer._held = (self._context(chain), whole)
                self.held += whole.numel() * whole.element_size()
            if chain.children:
                kept = torch.stack([torch.stack((k[r, :, past : past + n], v[r, :, past : past + n])) for k, v in keys])
                self.held += kept.numel() * kept.element_size()
                self.caches[chain.index] = kept
                self.pool.extend(chain.children)
            else:
                self._finish(chain.index)
        scorer.peak_cache_bytes = max(scorer.peak_cache_bytes, self.held)

    def _read(self, batch: list[Chain], hidden: torch.Tensor) -> None:
        """The target tokens' log-probabilities read in this batch, into the rows' results."""
        rows, offsets, where = [], [], {}
        for r, chain in enumerate(batch):
            for offset in self.positions[chain.index]:
                where[(r, offset)] = len(rows)
                rows.append(r)
                offsets.append(offset)
        if not rows:
            return
        device = self.scorer.device
        gathered = hidden[torch.tensor(rows, device=device), torch.tensor(offsets, device=device)]
        logprobs = torch.log_softmax(self.scorer.head(gathered), dim=-1)
        reads = [(where[(r, read.offset)], read) for r, chain in enumerate(batch) for read in chain.reads]
        picked = logprobs[
            torch.tensor([p for p, _ in reads], device=device), torch.tensor([read.token for _, read in reads], device=device)
        ]
        values = picked.double().cpu().numpy()
        for value, (_, read) in zip(values, reads):
            self.results[read.row][read.k] = value

    def _finish(self, index: int) -> None:
        """A chain whose subtree has run: release its cache, and its parents' whose last child it was (not the
        cache the scorer holds from an earlier call)."""
        while True:
            kept = self.caches.pop(index, None)
            if kept is not None:
                self.held -= kept.numel() * kept.element_size()
            parent = self.chains[index].parent
            if parent < 0 or parent == self.anchor:
                return
            self.open[parent] -= 1
            if self.open[parent]:
                return
            index = parent


def scorer_for(
    lm: Backend, progress: Progress | None = None, should_stop: ShouldStop | None = None
) -> BatchedScorer | Scorer:
    """The scorer for ``lm``: the backend's own (a served model's requests), else the batched local scorer."""
    own = lm.own_scorer(progress, should_stop)
    return own if own is not None else BatchedScorer(lm, progress=progress, should_stop=should_stop)
