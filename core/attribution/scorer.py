"""The batched scorer: log-probabilities of target tokens after many prompts.

Teacher forcing: one forward pass over prompt + target gives every target
token's log-probability. Rows (prompt, target) are de-duplicated, sorted, and
evaluated in batches: right padding with per-row gathering, the LM head only
at target positions, and the key/value cache of shared prefixes computed once
(recursively, like a trie: rows that share a longer prefix share its cache).
Batch size is bounded by a memory budget. A progress callback receives
(done, total) rows; a stop callback cancels between batches. The model is
shared with other runs batch by batch (``core.models.sharing``): the scorer
holds it while it scores and hands it on between batches when another run has
priority; before the first batch the rows are counted against the run's work limit.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache

from core.errors import Cancelled
from core.models.loading import LoadedModel
from core.models.output_head import OutputHead, text_body, text_config
from core.models.remote import RemoteModel, RemoteScorer
from core.models.sharing import Turns, plan_forward_passes, plan_memory, plan_tokens, share_of

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]
KV = list[tuple[torch.Tensor, torch.Tensor]]


def default_memory_budget_mb(device: torch.device) -> float:
    """Memory the scorer may use for one batch (``WHYLM_MEMORY_BUDGET_MB`` overrides)."""
    env = os.environ.get("WHYLM_MEMORY_BUDGET_MB")
    if env:
        return float(env)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free / 2**20 * 0.4
    return 1024.0


@dataclass
class _Row:
    prompt_len: int
    seq: tuple[int, ...]  # prompt + target
    target: tuple[int, ...]


class BatchedScorer:
    """Scores target tokens after prompts with a loaded model.

    Args:
        lm: the loaded model.
        memory_budget_mb: bound on one batch's activations (None: device default).
        progress: called with (rows done, rows total) after each batch.
        should_stop: polled between batches; when it returns True the scoring
            raises ``Cancelled``.
        share_prefix: reuse the key/value cache of shared prefixes.
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
        self.head = getattr(lm, "output_head", None) or OutputHead(lm.model)  # float32 logits, as the model's forward makes them
        params = inspect.signature(self.base.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._cfg = text_config(lm.model)
        self._element_bytes = next(lm.model.parameters()).element_size()
        # One more model call costs about as much as this many tokens through the
        # model (measured on 2 CPU cores: about 25; on a GPU, a few hundred).
        self.call_cost_tokens = 32 if self.device.type == "cpu" else 256
        self.forward_passes = 0
        self.model_calls = 0
        self.tokens_processed = 0
        self._done = 0
        self._total = 0
        self._turns: Turns | None = None

    # ------------------------------------------------------------ public

    def log_probs(self, rows: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[np.ndarray]:
        """Log-probability of each target token for each (prompt ids, target ids) row.

        Returns one float64 array of length len(target) per row, in input order.
        Identical rows are evaluated once.
        """
        keyed: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        order: list[int] = []
        uniq: list[_Row] = []
        for prompt, target in rows:
            if len(prompt) == 0:
                raise ValueError("a prompt must have at least one token")
            if len(target) == 0:
                raise ValueError("a target must have at least one token")
            key = (tuple(int(t) for t in prompt), tuple(int(t) for t in target))
            if key not in keyed:
                keyed[key] = len(uniq)
                uniq.append(_Row(len(key[0]), key[0] + key[1], key[1]))
            order.append(keyed[key])
        results: list[np.ndarray | None] = [None] * len(uniq)
        self._done, self._total = 0, len(uniq)
        plan_forward_passes(len(uniq))
        plan_tokens(sum(len(row.seq) for row in uniq))
        longest = max(uniq, key=lambda row: len(row.seq))
        plan_memory(self._row_bytes(len(longest.seq), 0, len(longest.target)), self.budget_bytes)
        sorted_idx = sorted(range(len(uniq)), key=lambda i: uniq[i].seq)
        with torch.inference_mode(), self.share.turns(self.should_stop) as turns:
            self._turns = turns
            try:
                self._solve(uniq, sorted_idx, [], 0, results)
            finally:
                self._turns = None
        self.forward_passes += len(uniq)
        return [results[i] for i in order]  # type: ignore[misc]

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

    def _solve(
        self,
        rows: list[_Row],
        idx: list[int],
        kv: KV,
        prefix_len: int,
        results: list[np.ndarray | None],
    ) -> None:
        if not self.share_prefix or len(idx) == 1:
            self._evaluate(rows, idx, kv, prefix_len, results)
            return
        planner = _PrefixPlanner(rows, idx, self.call_cost_tokens)
        _, plan = planner.best(0, len(idx), prefix_len)
        self._execute(plan, idx, rows, kv, prefix_len, results)

    def _execute(
        self,
        plan: tuple,
        idx: list[int],
        rows: list[_Row],
        kv: KV,
        prefix_len: int,
        results: list[np.ndarray | None],
    ) -> None:
        kind = plan[0]
        if kind == "flat":
            _, lo, hi = plan
            self._evaluate(rows, idx[lo:hi], kv, prefix_len, results)
        elif kind == "extend":
            _, lo, lcp, inner = plan
            kv = self._extend(kv, rows[idx[lo]].seq[prefix_len:lcp])
            self._execute(inner, idx, rows, kv, lcp, results)
        else:
            _, subplans, rest = plan
            for sub in subplans:
                self._execute(sub, idx, rows, kv, prefix_len, results)
            if rest:
                self._evaluate(rows, [idx[k] for lo, hi in rest for k in range(lo, hi)], kv, prefix_len, results)

    def _make_cache(self, kv: KV, batch: int) -> DynamicCache | None:
        if not kv:
            return None
        return DynamicCache(
            ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in kv]
        )

    def _extend(self, kv: KV, tokens: Sequence[int]) -> KV:
        """The key/value cache of the prefix extended by ``tokens`` (batch of one)."""
        self._next_call()
        cache = self._make_cache(kv, 1) or DynamicCache()
        ids = torch.tensor([list(tokens)], dtype=torch.long, device=self.device)
        self.base(input_ids=ids, use_cache=True, **{self._cache_kw: cache})
        self.model_calls += 1
        self.tokens_processed += len(tokens)
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _row_bytes(self, suffix_len: int, prefix_len: int, target_len: int) -> float:
        cfg = self._cfg
        hidden = int(getattr(cfg, "hidden_size", 1024))
        inter = int(getattr(cfg, "intermediate_size", 4 * hidden) or 4 * hidden)
        layers = int(getattr(cfg, "num_hidden_layers", 24))
        heads = int(getattr(cfg, "num_attention_heads", 16))
        kv_heads = int(getattr(cfg, "num_key_value_heads", heads) or heads)
        head_dim = int(getattr(cfg, "head_dim", None) or hidden // heads)
        vocab = int(getattr(cfg, "vocab_size", 50000))
        total = prefix_len + suffix_len
        size = self._element_bytes  # the model's dtype: 4 in float32, 2 in bfloat16 or float16
        kv_cache = layers * 2 * kv_heads * head_dim * total * size
        transient = suffix_len * (6 * hidden + 3 * inter) * size
        attention = heads * suffix_len * total * size * 2
        logits = target_len * vocab * (size + 4 * 2)  # the head's output, then float32 logits and log-softmax
        return float(kv_cache + transient + attention + logits)

    def _evaluate(
        self,
        rows: list[_Row],
        idx: list[int],
        kv: KV,
        prefix_len: int,
        results: list[np.ndarray | None],
    ) -> None:
        by_len = sorted(idx, key=lambda i: len(rows[i].seq), reverse=True)
        start = 0
        while start < len(by_len):
            longest = len(rows[by_len[start]].seq) - prefix_len
            t_max = max(len(rows[i].target) for i in by_len[start:])
            per_row = self._row_bytes(longest, prefix_len, t_max)
            size = int(max(1, min(self.max_batch_rows, self.budget_bytes // per_row)))
            batch = by_len[start : start + size]
            self._next_call()
            self._run_batch(rows, batch, kv, prefix_len, results)
            start += size
            self._done += len(batch)
            if self.progress is not None:
                self.progress(self._done, self._total)

    def _run_batch(
        self,
        rows: list[_Row],
        batch: list[int],
        kv: KV,
        prefix_len: int,
        results: list[np.ndarray | None],
    ) -> None:
        suffixes = [rows[i].seq[prefix_len:] for i in batch]
        width = max(len(s) for s in suffixes)
        pad = 0
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        for r, suffix in enumerate(suffixes):
            ids[r, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
        ids = ids.to(self.device)
        cache = self._make_cache(kv, len(batch))
        kwargs = {self._cache_kw: cache, "use_cache": cache is not None}
        hidden = self.base(input_ids=ids, **kwargs).last_hidden_state
        self.model_calls += 1
        self.tokens_processed += sum(len(s) for s in suffixes)
        t_max = max(len(rows[i].target) for i in batch)
        pos = torch.zeros((len(batch), t_max), dtype=torch.long)
        tgt = torch.zeros((len(batch), t_max), dtype=torch.long)
        for r, i in enumerate(batch):
            row = rows[i]
            first = row.prompt_len - prefix_len - 1
            n = len(row.target)
            pos[r, :n] = torch.arange(first, first + n)
            pos[r, n:] = first
            tgt[r, :n] = torch.tensor(row.target, dtype=torch.long)
        pos, tgt = pos.to(self.device), tgt.to(self.device)
        gathered = hidden[torch.arange(len(batch), device=self.device)[:, None], pos]
        logits = self.head(gathered)
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, tgt[..., None])[..., 0]
        values = logprobs.double().cpu().numpy()
        for r, i in enumerate(batch):
            results[i] = values[r, : len(rows[i].target)].copy()


def _common_prefix(seqs: list[tuple[int, ...]], start: int, cap: int) -> int:
    """Length of the common prefix of ``seqs`` (known to be >= start), at most ``cap``."""
    first = seqs[0]
    n = min(cap, *(len(s) for s in seqs))
    pos = start
    while pos < n:
        token = first[pos]
        if any(s[pos] != token for s in seqs):
            break
        pos += 1
    return max(start, min(pos, cap))


class _PrefixPlanner:
    """Chooses how to evaluate sorted rows: flat, or sharing prefixes' caches (a prefix tree).

    Costs are counted in tokens through the model; each model call costs
    ``call_cost`` tokens more. A group of rows (a range of the sorted order)
    given a cached prefix of length p is either evaluated flat in one call, or
    its common prefix is extended in the cache (one call) and the group is
    solved again from there, or it is split by the token after p: children
    that gain from their own cache are solved on their own and the rest are
    evaluated together.
    """

    def __init__(self, rows: list[_Row], idx: list[int], call_cost: int) -> None:
        self.seqs = [rows[i].seq for i in idx]
        self.caps = [rows[i].prompt_len - 1 for i in idx]
        self.call_cost = call_cost
        self.memo: dict[tuple[int, int, int], tuple[float, tuple]] = {}

    def flat_tokens(self, lo: int, hi: int, p: int) -> int:
        return sum(len(self.seqs[k]) - p for k in range(lo, hi))

    def best(self, lo: int, hi: int, p: int, extended: bool = False) -> tuple[float, tuple]:
        key = (lo, hi, p if not extended else -p - 1)
        if key in self.memo:
            return self.memo[key]
        flat = (self.flat_tokens(lo, hi, p) + self.call_cost, ("flat", lo, hi))
        choice = flat
        if hi - lo > 1:
            cap = min(self.caps[lo:hi])
            lcp = _common_prefix(self.seqs[lo:hi], p, cap)
            if lcp > p and not extended:
                inner_cost, inner = self.best(lo, hi, lcp, extended=True)
                cost = (lcp - p) + self.call_cost + inner_cost
                if cost < choice[0]:
                    choice = (cost, ("extend", lo, lcp, inner))
            elif lcp == p:
                split = self._split(lo, hi, p)
                if split is not None and split[0] < choice[0]:
                    choice = split
        self.memo[key] = choice
        return choice

    def _split(self, lo: int, hi: int, p: int) -> tuple[float, tuple] | None:
        ranges: list[tuple[int, int]] = []
        start = lo
        for k in range(lo + 1, hi + 1):
            if k == hi or _token_at(self.seqs[k], p) != _token_at(self.seqs[start], p):
                ranges.append((start, k))
                start = k
        if len(ranges) < 2:
            return None
        cost = 0.0
        subplans: list[tuple] = []
        rest: list[tuple[int, int]] = []
        for a, b in ranges:
            own_cost, own = self.best(a, b, p)
            flat_tokens = self.flat_tokens(a, b, p)
            if own[0] != "flat" and own_cost < flat_tokens:
                cost += own_cost
                subplans.append(own)
            else:
                cost += flat_tokens
                rest.append((a, b))
        if rest:
            cost += self.call_cost
        return cost, ("split", subplans, rest)


def _token_at(seq: tuple[int, ...], pos: int) -> int:
    return seq[pos] if pos < len(seq) else -1


def scorer_for(
    lm: Any, progress: Progress | None = None, should_stop: ShouldStop | None = None
) -> BatchedScorer | RemoteScorer:
    """The scorer for ``lm``: the batched local scorer, or requests to the server of a served model."""
    if isinstance(lm, RemoteModel):
        return RemoteScorer(lm, progress=progress, should_stop=should_stop)
    return BatchedScorer(lm, progress=progress, should_stop=should_stop)
