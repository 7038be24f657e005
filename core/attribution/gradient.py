"""Gradient attribution over the prompt's token embeddings.

Integrated gradients, saliency, input x gradient and gradient SHAP, toward the
target's score (log-probability or probability, optionally contrasted), per
output token and for the whole sequence.

How the engine is fast: a causal model's position t sees only tokens <= t, so
one forward pass over prompt + full target gives every target token's
log-probability at once (Captum runs one forward per output token). The
interpolation points of a path are rows of one batch, chunked to a memory
budget; per-token gradients come from one backward pass per output token over
that chunk's graph (the graph is kept between them). Every method is the same
computation: evaluate the score's gradient at some points, dot it with a
direction per token, and combine the points with weights.

Only the user's prompt tokens are attributed: in chat mode the chat template's
tokens keep their real embeddings (context), and the target's tokens always do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.attribution.faithfulness import MaskTable, faithfulness
from core.attribution.gradient_rules import GradientInputs, scores_of
from core.attribution.methods import METHODS
from core.attribution.scorer import Progress, ShouldStop, default_memory_budget_mb
from core.attribution.uncertainty import trials_stderr
from core.errors import Cancelled, SpecError, WhyLMError
from core.models.loading import LoadedModel
from core.models.output_head import text_body, text_config
from core.models.sharing import Turns, plan_forward_passes, plan_memory, plan_tokens, share_of
from core.text import unique_labels

BASELINE_NAMES = ("pad", "eos", "unk", "zero")


# ---------------------------------------------------------------- quadrature




# ---------------------------------------------------------------- baselines


def baseline_token_id(spec_value: Any, tokenizer: Any, vocab_size: int, where: str) -> int | None:
    """The baseline token id a spec asks for (None for the zero embedding), or a SpecError."""
    if spec_value == "zero":
        return None
    if isinstance(spec_value, str):
        attr = {"pad": "pad_token_id", "eos": "eos_token_id", "unk": "unk_token_id"}.get(spec_value)
        if attr is None:
            raise SpecError(
                where,
                f"'{spec_value}' is not a baseline; give a token id or one of {', '.join(BASELINE_NAMES)}.",
            )
        token_id = getattr(tokenizer, attr, None)
        if isinstance(token_id, (list, tuple)):
            token_id = token_id[0] if token_id else None
        if token_id is None:
            raise SpecError(
                where,
                f"this model's tokenizer has no {spec_value} token; choose another baseline "
                "(a token id, or zero).",
            )
        spec_value = int(token_id)
    if isinstance(spec_value, bool) or not isinstance(spec_value, int):
        raise SpecError(where, "the baseline must be a token id or one of pad, eos, unk, zero.")
    if not 0 <= spec_value < vocab_size:
        raise SpecError(
            where,
            f"token id {spec_value} is outside this model's vocabulary of {vocab_size} tokens; "
            f"give an id from 0 to {vocab_size - 1}.",
        )
    return spec_value


# ---------------------------------------------------------------- the engine


@dataclass
class PointGradients:
    """What evaluating the score's gradient at a set of points gave.

    Attributes:
        logp: (points, output rows) log-probability of each target token at each point.
        dots: (points, output rows, attributed tokens) gradient of each token's
            log-probability dotted with the point's direction, per token
            (None when full gradients were asked for).
        grads: (points, output rows, attributed tokens, hidden) full gradients
            (only when asked for: saliency).
    """

    logp: np.ndarray
    dots: np.ndarray | None
    grads: np.ndarray | None


class EmbeddingGradients:
    """Gradients of target-token log-probabilities with respect to prompt token embeddings.

    Args:
        lm: the loaded model.
        prompt_ids: the full prompt's token ids.
        attributed: indices (into the prompt) of the tokens whose embeddings vary.
        targets: one or two target id lists (the target, and the contrast).
        memory_budget_mb: bound on one chunk's activations and graph
            (default: ``default_gradient_budget_mb``).
        chunk_points: points per chunk (0: derived from the memory budget).
        progress: called with (points done, points total) after each chunk.
        should_stop: polled between chunks and backward passes; True raises ``Cancelled``.
    """

    def __init__(
        self,
        lm: LoadedModel,
        prompt_ids: Sequence[int],
        attributed: Sequence[int],
        targets: Sequence[Sequence[int]],
        memory_budget_mb: float | None = None,
        chunk_points: int = 0,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> None:
        self.lm = lm
        self.share = share_of(lm)
        self.device = lm.device
        model = lm.model
        self.base = text_body(model)
        self.head = lm.output_head  # float32 logits, as the model's forward makes them
        self.embedding = model.get_input_embeddings()
        self.prompt_ids = [int(t) for t in prompt_ids]
        self.attributed = torch.tensor(list(attributed), dtype=torch.long, device=self.device)
        self.targets = [[int(t) for t in ids] for ids in targets]
        budget = memory_budget_mb or default_gradient_budget_mb(self.device)
        self.budget_bytes = float(budget) * 2**20
        self.chunk_points = int(chunk_points)
        self.progress = progress
        self.should_stop = should_stop
        self.forward_passes = 0
        self.model_calls = 0
        self._cfg = text_config(model)
        self._element_bytes = next(
            model.parameters()
        ).element_size()  # activations: 4 in float32, 2 in bfloat16
        with torch.no_grad(), self.share.turn(should_stop):
            ids = torch.tensor(self.prompt_ids, dtype=torch.long, device=self.device)
            self.prompt_embeds = self.embedding(ids).detach()
            # A target's last token is predicted but never read, so it is not fed in.
            self.target_embeds = [
                self.embedding(torch.tensor(t[:-1], dtype=torch.long, device=self.device)).detach()
                for t in self.targets
            ]
        self.inputs = self.prompt_embeds[self.attributed]  # (n, hidden)
        # every output row's token id, targets one after another (the rows' order)
        self.target_ids = torch.tensor(
            [t for ids in self.targets for t in ids], dtype=torch.long, device=self.device
        )
        self.n_outputs = sum(len(t) for t in self.targets)

    # ------------------------------------------------------------ public

    def token_embeddings(self, token_id: int | None) -> torch.Tensor:
        """The baseline at every attributed position: a token's embedding, or zeros."""
        if token_id is None:
            return torch.zeros_like(self.inputs)
        with torch.no_grad(), self.share.turn(self.should_stop):
            row = self.embedding(torch.tensor([token_id], dtype=torch.long, device=self.device))
        return row.expand_as(self.inputs).clone()

    def log_probs(self, points: torch.Tensor) -> np.ndarray:
        """(points, output rows) target-token log-probabilities, without gradients."""
        out = []
        plan_forward_passes(len(points) * len(self.targets))
        plan_tokens(len(points) * self._tokens_per_point())
        with self.share.turns(self.should_stop) as turns:
            for start, stop in self._chunks(len(points), with_graph=False):
                self._check_stop()
                turns.next()
                with torch.no_grad():
                    out.append(self._forward(points[start:stop]).double().cpu().numpy())
        return np.vstack(out)

    def gradients(
        self,
        points: torch.Tensor,
        directions: torch.Tensor | None,
        keep_full: bool = False,
    ) -> PointGradients:
        """Gradients of every output token's log-probability at ``points``.

        One forward pass per chunk of points; the output tokens' gradients come
        from backward passes over that graph, batched over a group of output
        tokens at once (``is_grads_batched``: one vectorised backward per group,
        measured 2x faster than one backward per token on a CPU). The backward
        passes start from the last hidden states, not the log-probabilities:
        each token's gradient there (through the output head and the softmax
        over the vocabulary) is computed once for all tokens, instead of once
        per token over every token's logits.

        Args:
            points: (k, n, hidden) embeddings of the attributed tokens at each point.
            directions: (n, hidden) or (k, n, hidden): the gradients are dotted with
                these per token (the path's direction, or the input for input x gradient).
            keep_full: return the full gradients too (for saliency).
        """
        k = len(points)
        rows = self.n_outputs
        logp = np.zeros((k, rows))
        dots = np.zeros((k, rows, len(self.attributed))) if directions is not None else None
        grads = (
            np.zeros((k, rows, len(self.attributed), self.inputs.shape[1]), np.float32) if keep_full else None
        )
        chunk, group = self.plan(k)
        # a point with its gradients is a forward and a backward pass
        plan_forward_passes(2 * k * len(self.targets))
        plan_tokens(2 * k * self._tokens_per_point())
        plan_memory(self._point_bytes(with_graph=True) + self._backward_bytes(), self.budget_bytes)
        with self.share.turns(self.should_stop) as turns:
            self._chunk_gradients(points, directions, turns, chunk, group, logp, dots, grads)
        return PointGradients(logp, dots, grads)

    def _chunk_gradients(
        self,
        points: torch.Tensor,
        directions: torch.Tensor | None,
        turns: Turns,
        chunk: int,
        group: int,
        logp: np.ndarray,
        dots: np.ndarray | None,
        grads: np.ndarray | None,
    ) -> None:
        """Fill ``logp``, ``dots`` and ``grads`` chunk by chunk, taking the model's turn before each chunk."""
        k, rows = len(points), self.n_outputs
        if self.progress is not None:
            self.progress(0, k)
        for start in range(0, k, chunk):
            stop = min(k, start + chunk)
            self._check_stop()
            turns.next()
            z = points[start:stop].detach().clone().requires_grad_(True)
            d = None
            if directions is not None:
                d = directions if directions.dim() == 2 else directions[start:stop]
            with torch.enable_grad():
                hidden = self._hidden(z)  # (chunk, rows, hidden), graph back to z
                values, cotangent = self._head(hidden.detach(), with_cotangent=True)
                logp[start:stop] = values.double().cpu().numpy()
                for first in range(0, rows, group):
                    self._check_stop()
                    last = min(rows, first + group)
                    seeds = torch.zeros((last - first, *hidden.shape), device=self.device, dtype=hidden.dtype)
                    picked = torch.arange(first, last, device=self.device)
                    seeds[torch.arange(last - first), :, picked] = cotangent[:, picked].transpose(0, 1)
                    (grad,) = torch.autograd.grad(
                        hidden, z, grad_outputs=seeds, retain_graph=last < rows, is_grads_batched=True
                    )  # (group, chunk, n, hidden)
                    if dots is not None and d is not None:
                        dot = (grad * d).sum(-1).transpose(0, 1)
                        dots[start:stop, first:last] = dot.double().cpu().numpy()
                    if grads is not None:
                        grads[start:stop, first:last] = grad.transpose(0, 1).float().cpu().numpy()
                    del grad, seeds
                del hidden
            if dots is not None and not np.isfinite(dots[start:stop]).all():
                raise WhyLMError(
                    "The model's gradient is not a number at some points of the path (this "
                    "happens at the zero embedding itself); use a token baseline or a rule "
                    "that does not evaluate the baseline (gausslegendre, riemann_middle or "
                    "riemann_right)."
                )
            if self.progress is not None:
                self.progress(stop, k)

    def plan(self, k: int) -> tuple[int, int]:
        """(points per chunk, output tokens per backward pass) for ``k`` points within budget.

        All output tokens in one batched backward when a point's graph and that
        backward fit; otherwise one point per chunk and as many tokens as fit.
        """
        graph, per_output = self._point_bytes(with_graph=True), self._backward_bytes()
        rows = self.n_outputs
        if self.chunk_points:
            chunk = max(1, min(self.chunk_points, k))
        else:
            chunk = int(max(1, min(k, self.budget_bytes // (graph + rows * per_output))))
        spare = self.budget_bytes / chunk - graph
        group = int(max(1, min(rows, spare // per_output)))
        return chunk, group

    # ------------------------------------------------------------ internals

    def _check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled()

    def _forward(self, z: torch.Tensor) -> torch.Tensor:
        """(k, output rows) log-probabilities of the target tokens with ``z`` placed in the prompt."""
        return self._head(self._hidden(z))[0]

    def _hidden(self, z: torch.Tensor) -> torch.Tensor:
        """(k, output rows, hidden) last hidden states that predict each target token."""
        k = len(z)
        prompt = self.prompt_embeds.unsqueeze(0).expand(k, -1, -1).clone()
        prompt[:, self.attributed] = z
        p = len(self.prompt_ids)
        width = p + max(len(t) for t in self.target_embeds)
        rows = []
        for emb in self.target_embeds:
            pad = width - p - len(emb)
            tail = emb.unsqueeze(0).expand(k, -1, -1)
            if pad:
                tail = torch.cat([tail, tail.new_zeros(k, pad, tail.shape[-1])], dim=1)
            rows.append(torch.cat([prompt, tail], dim=1))
        embeds = torch.cat(rows, dim=0) if len(rows) > 1 else rows[0]
        # Right padding: no real position ever attends to a later (padded) one.
        hidden = self.base(inputs_embeds=embeds, use_cache=False).last_hidden_state
        self.model_calls += 1
        self.forward_passes += len(embeds)
        out = []
        for j, ids in enumerate(self.targets):
            positions = torch.arange(p - 1, p - 1 + len(ids), device=self.device)
            out.append(hidden[j * k : (j + 1) * k, positions])
        return torch.cat(out, dim=1) if len(out) > 1 else out[0]

    def _head(
        self, hidden: torch.Tensor, with_cotangent: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Target-token log-probabilities from last hidden states (k, rows, hidden).

        With ``with_cotangent``, also each log-probability's gradient with respect
        to its own hidden state (k, rows, hidden): the output head and softmax of
        one row see only that row, so one backward of their sum gives every row's
        gradient at once. ``hidden`` must then carry no graph of its own.
        """
        if not with_cotangent:
            return self._target_log_probs(hidden), None
        with torch.enable_grad():
            leaf = hidden.detach().requires_grad_(True)
            lp = self._target_log_probs(leaf)
            (cotangent,) = torch.autograd.grad(lp.sum(), leaf)
        return lp.detach(), cotangent

    def _target_log_probs(self, hidden: torch.Tensor) -> torch.Tensor:
        """(k, rows) log-probability of each row's target token under the output head."""
        logits = self.head(hidden)
        picked = self.target_ids.expand(len(hidden), -1)[..., None]
        return torch.log_softmax(logits, dim=-1).gather(-1, picked)[..., 0]

    def _tokens_per_point(self) -> int:
        """Tokens one point puts through the model: the prompt and each target sequence."""
        return sum(len(self.prompt_ids) + len(t) for t in self.targets)

    def _shape(self) -> tuple[int, int, int, int, int, int]:
        cfg = self._cfg
        hidden = int(getattr(cfg, "hidden_size", 1024))
        inter = int(getattr(cfg, "intermediate_size", 4 * hidden) or 4 * hidden)
        layers = int(getattr(cfg, "num_hidden_layers", 24))
        heads = int(getattr(cfg, "num_attention_heads", 16))
        vocab = int(getattr(cfg, "vocab_size", 50000))
        length = len(self.prompt_ids) + max(len(t) for t in self.targets)
        return hidden, inter, layers, heads, vocab, length

    def _point_bytes(self, with_graph: bool) -> float:
        """Estimated bytes one point costs (all its target sequences), graph included.

        Measured on SmolLM2-135M, 430 tokens: 985 MB peak for one point's graph
        and one backward pass; this estimate gives 870 MB + the backward below.
        Activations are in the model's dtype (half as many bytes in bfloat16 or
        float16); the logits and log-softmax are float32 whatever the dtype.
        """
        hidden, inter, layers, heads, vocab, length = self._shape()
        seqs = len(self.targets)
        size = self._element_bytes
        if with_graph:
            # activations kept for the backward passes, per token and layer,
            # plus the attention weights (heads x length per token and layer)
            per_token = layers * (12 * hidden + 4 * inter + heads * length) * size
            logits = self.n_outputs * vocab * 4 * 4
        else:
            per_token = (6 * hidden + 3 * inter + heads * length) * size
            logits = self.n_outputs * vocab * 4 * 3
        return float(seqs * length * per_token + logits)

    def _backward_bytes(self) -> float:
        """Estimated transient bytes of one output token's backward pass for one point."""
        hidden, inter, _layers, heads, vocab, length = self._shape()
        seqs = len(self.targets)
        per_token = (8 * hidden + 4 * inter + 3 * heads * length) * self._element_bytes
        return float(seqs * length * per_token + len(self.targets[0]) * vocab * 4 * 2)

    def _chunks(self, k: int, with_graph: bool) -> list[tuple[int, int]]:
        size = self.chunk_points or int(max(1, self.budget_bytes // self._point_bytes(with_graph)))
        size = max(1, min(size, k))
        return [(s, min(k, s + size)) for s in range(0, k, size)]


def default_gradient_budget_mb(device: torch.device) -> float:
    """Memory one chunk of points may use: ``WHYLM_MEMORY_BUDGET_MB``, else 2 GB on a CPU.

    A gradient chunk keeps its graph for the backward passes, so it gets twice
    the scorer's CPU default; on a GPU the scorer's share of free memory.
    """
    if os.environ.get("WHYLM_MEMORY_BUDGET_MB") or device.type != "cpu":
        return default_memory_budget_mb(device)
    return 2048.0


# ---------------------------------------------------------------- methods










def run_gradient(ctx: Any) -> dict[str, Any]:
    """Run a gradient method on a prepared RunContext; return the result's attribution fields."""
    spec, lm = ctx.spec, ctx.lm
    params = spec.params
    method = spec.method_name
    target = ctx.target
    if not lm.capabilities.gradients:  # a served model: its server gives log-probabilities, not gradients
        raise SpecError(
            "method",
            f"{method} needs the model's weights on this machine, and this model is served "
            "elsewhere; pick a perturbation method (feature ablation, Shapley values, ...) or a local model.",
        )
    if not target.ids:
        raise SpecError("target", "the target has no tokens; write the output to explain.")
    attributed = list(ctx.user_token_idx) if ctx.layout.chat else list(range(len(ctx.prompt_ids)))
    if not attributed:
        raise SpecError("prompt", "the prompt has no tokens of its own to attribute; write some text.")
    targets = [target.ids] + ([target.contrast_ids] if target.contrast_ids else [])
    n_target = len(target.ids)
    engine = EmbeddingGradients(
        lm,
        ctx.prompt_ids,
        attributed,
        targets,
        chunk_points=int(params.get("internal_batch_size", 0) or 0),
        progress=ctx.progress,
        should_stop=ctx.should_stop,
    )
    vocab = int(engine.embedding.num_embeddings)
    x = engine.inputs
    extra: dict[str, Any] = {}
    samples: tuple[np.ndarray, np.ndarray] | None = (
        None  # gradient SHAP's per-point (token, sequence) attributions
    )
    info = METHODS[method]
    base_id = baseline_token_id(params["baseline"], lm.tokenizer, vocab, "method.baseline") if info.baseline_token else None
    baseline = engine.token_embeddings(base_id)
    extra["baseline"] = "zero" if base_id is None else params.get("baseline")
    extra["baseline_token_id"] = base_id

    ends = engine.log_probs(torch.stack([x, baseline]))
    all_scores = scores_of(ends[0], n_target, spec.score)
    none_scores = scores_of(ends[1], n_target, spec.score)

    outcome = info.gradients(
        GradientInputs(engine, x, baseline, n_target, spec.score, int(spec.seed), all_scores, none_scores), params
    )
    token, seq, samples = outcome.token, outcome.seq, outcome.samples
    extra.update(outcome.extra)

    labels = unique_labels(
        [ctx.prompt_tokens[i] for i in attributed],
        blank=lambda label: label if label.strip() else repr(label),
    )
    extra["token_level"] = {
        "tokens": [ctx.prompt_tokens[i] for i in attributed],
        "token_indices": attributed,
        "seq_attr": seq.tolist(),
        "token_attr": token.tolist(),
    }
    extra["attributed_tokens"] = len(attributed)
    if params.get("aggregate", "token") == "feature":
        position = {t: j for j, t in enumerate(attributed)}
        columns = [[position[t] for t in cover if t in position] for cover in ctx.feature_tokens]
        seq = np.array([seq[c].sum() for c in columns])
        token = np.stack([token[:, c].sum(axis=1) for c in columns], axis=1)
        features, feature_tokens = ctx.layout.labels, ctx.feature_tokens
        if samples is not None:
            samples = (
                np.stack([samples[0][:, :, c].sum(axis=2) for c in columns], axis=2),
                np.stack([samples[1][:, c].sum(axis=1) for c in columns], axis=1),
            )
    else:
        columns = [[j] for j in range(len(attributed))]
        features, feature_tokens = labels, [[t] for t in attributed]
    passes, calls = engine.forward_passes, engine.model_calls
    faithful = None
    if getattr(spec, "faithfulness", False):
        faithful = faithfulness(
            embedding_coalitions(engine, baseline, columns, ends, n_target, spec.score), seq, token, spec.seed
        )
    stderr = None
    if samples is not None:
        token_err, seq_err = trials_stderr(list(samples[0])), trials_stderr(list(samples[1]))
        if token_err is not None and seq_err is not None:
            stderr = {"seq_stderr": seq_err.tolist(), "token_stderr": token_err.tolist()}
    return {
        "features": features,
        "feature_tokens": feature_tokens,
        "seq_attr": seq.tolist(),
        "token_attr": token.tolist(),
        "score_all": float(all_scores[0]),
        "score_none": float(none_scores[0]),
        "token_score_all": all_scores[1:].tolist(),
        "token_score_none": none_scores[1:].tolist(),
        "extra": extra,
        "forward_passes": passes,
        "model_calls": calls,
        **({"faithfulness": faithful} if faithful is not None else {}),
        **(stderr or {}),
    }


def embedding_coalitions(
    engine: EmbeddingGradients,
    baseline: torch.Tensor,
    columns: list[list[int]],
    ends: np.ndarray,
    n_target: int,
    score: str,
) -> MaskTable:
    """Coalitions of a gradient run's features: a removed feature's tokens take the run's baseline embedding.

    ``columns`` lists each feature's positions among the attributed tokens; ``ends`` the
    log-probabilities at the input and at the baseline (reused for the full coalition,
    and for the empty one when the features cover every attributed token).
    """
    x = engine.inputs
    n = len(columns)

    def value_fn(masks: np.ndarray) -> np.ndarray:
        points = x[None].repeat(len(masks), 1, 1)
        for r, mask in enumerate(masks):
            for j in np.flatnonzero(~mask):
                points[r, columns[j]] = baseline[columns[j]]
        logp = engine.log_probs(points)
        return np.vstack([scores_of(row, n_target, score) for row in logp])

    known_masks = [np.ones(n, bool)]
    known_rows = [scores_of(ends[0], n_target, score)]
    covered = sorted(j for c in columns for j in c)
    if covered == list(range(len(x))):
        known_masks.append(np.zeros(n, bool))
        known_rows.append(scores_of(ends[1], n_target, score))
    return MaskTable(value_fn, (np.vstack(known_masks), np.vstack(known_rows)))




__all__ = [
    "EmbeddingGradients",
    "PointGradients",
    "baseline_token_id",
    "run_gradient",
]
