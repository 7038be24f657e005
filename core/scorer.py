"""The batched scorer: log-probabilities of target tokens after many prompts.

Teacher forcing: one forward pass over prompt + target gives every target
token's log-probability. Rows (prompt, target) are de-duplicated, sorted, and
evaluated in batches: right padding with per-row gathering, the LM head only
at target positions, and the key/value cache of shared prefixes computed once
(recursively, like a trie: rows that share a longer prefix share its cache).
Batch size is bounded by a memory budget. A progress callback receives
(done, total) rows; a stop callback cancels between batches.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache

from core.errors import Cancelled
from core.model_loading import LoadedModel

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
        self.device = lm.device
        self.budget_bytes = (memory_budget_mb or default_memory_budget_mb(lm.device)) * 2**20
        self.progress = progress
        self.should_stop = should_stop
        self.share_prefix = share_prefix
        self.max_batch_rows = max_batch_rows or (256 if self.device.type == "cuda" else 64)
        self.base = lm.model.get_base_model() if hasattr(lm.model, "get_base_model") else lm.model.base_model
        self.head = lm.model.get_output_embeddings()
        params = inspect.signature(self.base.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        cfg = lm.model.config.get_text_config() if hasattr(lm.model.config, "get_text_config") else lm.model.config
        self._cfg = cfg
        # Splitting a group to share a longer prefix costs one more model call;
        # on a CPU that is worth a few tokens, on a GPU a few hundred.
        # (measured on 2 CPU cores: a call costs about as much as 25 tokens).
        self.split_min_tokens = 32 if self.device.type == "cpu" else 256
        self.forward_passes = 0
        self.model_calls = 0
        self.tokens_processed = 0
        self._done = 0
        self._total = 0

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
        sorted_idx = sorted(range(len(uniq)), key=lambda i: uniq[i].seq)
        with torch.inference_mode():
            self._solve(uniq, sorted_idx, [], 0, results)
        self.forward_passes += len(uniq)
        return [results[i] for i in order]  # type: ignore[misc]

    # ------------------------------------------------------------ internals

    def _check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled()

    def _solve(
        self,
        rows: list[_Row],
        idx: list[int],
        kv: KV,
        prefix_len: int,
        results: list[np.ndarray | None],
    ) -> None:
        if self.share_prefix and len(idx) > 1:
            cap = min(rows[i].prompt_len for i in idx) - 1
            lcp = _common_prefix([rows[i].seq for i in idx], prefix_len, cap)
            if (lcp - prefix_len) * (len(idx) - 1) >= self.split_min_tokens:
                kv = self._extend(kv, rows[idx[0]].seq[prefix_len:lcp])
                prefix_len = lcp
            children = _split_by_next_token(rows, idx, prefix_len)
            if len(children) > 1:
                # Children whose rows share enough beyond this prefix get their own
                # cache (recursively); the rest are evaluated together from here.
                rest: list[int] = []
                for child in children:
                    if _shared_saving(rows, child, prefix_len) >= self.split_min_tokens:
                        self._solve(rows, child, kv, prefix_len, results)
                    else:
                        rest.extend(child)
                if rest:
                    self._evaluate(rows, rest, kv, prefix_len, results)
                return
        self._evaluate(rows, idx, kv, prefix_len, results)

    def _make_cache(self, kv: KV, batch: int) -> DynamicCache | None:
        if not kv:
            return None
        return DynamicCache(
            ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in kv]
        )

    def _extend(self, kv: KV, tokens: Sequence[int]) -> KV:
        """The key/value cache of the prefix extended by ``tokens`` (batch of one)."""
        self._check_stop()
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
        kv_cache = layers * 2 * kv_heads * head_dim * total * 4
        transient = suffix_len * (6 * hidden + 3 * inter) * 4
        attention = heads * suffix_len * total * 4 * 2
        logits = target_len * vocab * 4 * 3
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
            self._check_stop()
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
        logits = self.head(gathered).float()
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


def _shared_saving(rows: list[_Row], idx: list[int], prefix_len: int) -> int:
    """Prompt tokens saved by evaluating sorted rows as a prefix tree instead of flat."""
    flat = 0
    nodes = 0
    previous: tuple[int, ...] = ()
    for i in idx:
        shareable = rows[i].seq[: rows[i].prompt_len - 1]
        flat += max(0, len(shareable) - prefix_len)
        common = prefix_len
        limit = min(len(shareable), len(previous))
        while common < limit and shareable[common] == previous[common]:
            common += 1
        nodes += max(0, len(shareable) - common)
        previous = shareable
    return flat - nodes


def _split_by_next_token(rows: list[_Row], idx: list[int], prefix_len: int) -> list[list[int]]:
    """Group sorted row indices by their token right after the shared prefix."""
    groups: list[list[int]] = []
    last: int | None = None
    for i in idx:
        seq = rows[i].seq
        token = seq[prefix_len] if prefix_len < len(seq) else -1
        if groups and token == last:
            groups[-1].append(i)
        else:
            groups.append([i])
            last = token
    return groups
