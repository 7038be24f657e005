"""The arithmetic a gradient method shares: integration rules, chain-rule weights from token
log-probabilities to the spec's scores, combining points, and integrated gradients' completeness.

A gradient method (``core.attribution.methods``) turns the gradients of ``core.attribution.gradient``'s
engine into attributions with these; it receives a :class:`GradientInputs` and returns a
:class:`GradientOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.attribution.targets import score_matrix
from core.errors import SpecError

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def quadrature(rule: str, steps: int) -> tuple[list[float], list[float]]:
    """Points (alphas in [0, 1]) and weights of an integration rule.

    The same numbers as Captum's ``captum.attr._utils.approximation_methods``:
    Riemann rules take evenly spaced points (torch.linspace in float32) with
    equal weights 1/steps (halved at both ends for the trapezoid); Gauss-Legendre
    takes numpy's ``leggauss`` nodes and weights rescaled from [-1, 1] to [0, 1].
    """
    if rule not in RULES:
        raise SpecError("method.rule", f"'{rule}' is not a rule; choose one of {', '.join(RULES)}.")
    if steps < 1:
        raise SpecError("method.steps", f"steps must be at least 1 (got {steps}).")
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (0.5 * (1 + nodes)).tolist(), (0.5 * weights).tolist()
    if steps < 2:
        raise SpecError(
            "method.steps",
            f"the {rule.replace('_', ' ')} rule needs at least 2 steps; raise steps or use gausslegendre.",
        )
    n = steps
    deltas = [1 / n] * n
    if rule == "riemann_trapezoid":
        deltas[0] /= 2
        deltas[-1] /= 2
        alphas = torch.linspace(0, 1, n)
    elif rule == "riemann_left":
        alphas = torch.linspace(0, 1 - 1 / n, n)
    elif rule == "riemann_middle":
        alphas = torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n)
    else:
        alphas = torch.linspace(1 / n, 1, n)
    return alphas.tolist(), deltas


@dataclass
class ScoreWeights:
    """How token log-probability gradients turn into score gradients at each point.

    token[s, r]: factor of output row r's gradient in row r's score (+-1 for
    log_prob, +-p for prob; contrast rows negated). seq[s, r]: factor of row
    r's gradient in the sequence score (+-1, or +-the sequence probability).
    """

    token: np.ndarray
    seq: np.ndarray


def score_weights(logp: np.ndarray, n_target: int, score: str) -> ScoreWeights:
    """Chain-rule factors from token log-probabilities to the spec's scores, per point."""
    k, rows = logp.shape
    sign = np.ones(rows)
    sign[n_target:] = -1.0
    if score == "log_prob":
        return ScoreWeights(np.broadcast_to(sign, (k, rows)).copy(), np.broadcast_to(sign, (k, rows)).copy())
    token = sign * np.exp(logp)
    seq = np.empty_like(logp)
    seq[:, :n_target] = np.exp(logp[:, :n_target].sum(axis=1, keepdims=True))
    if rows > n_target:
        seq[:, n_target:] = -np.exp(logp[:, n_target:].sum(axis=1, keepdims=True))
    return ScoreWeights(token, seq)


def scores_of(logp_row: np.ndarray, n_target: int, score: str) -> np.ndarray:
    """[sequence score, token scores...] of one point (contrast rows negated)."""
    b = [logp_row[n_target:]] if len(logp_row) > n_target else None
    return score_matrix([logp_row[:n_target]], b, score)[0]


def combine_points(
    dots: np.ndarray, weights: ScoreWeights, point_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Token (rows x n) and sequence (n) attributions from per-point dots."""
    token = np.einsum("s,sr,sri->ri", point_weights, weights.token, dots)
    seq = np.einsum("s,sr,sri->i", point_weights, weights.seq, dots)
    return token, seq


def completeness(
    token: np.ndarray, seq: np.ndarray, all_scores: np.ndarray, none_scores: np.ndarray
) -> dict[str, Any]:
    """The completeness gap: attributions' sum against score(input) - score(baseline).

    Integrated gradients' attributions add up to the score difference when the
    path integral is exact; the gap measures the integration error.
    """
    sums = np.concatenate([[seq.sum()], token.sum(axis=1)])
    diffs = all_scores - none_scores
    gaps = sums - diffs
    rel = np.abs(gaps) / np.maximum(np.abs(diffs), 1e-12)
    return {
        "sequence": {
            "sum": float(sums[0]),
            "difference": float(diffs[0]),
            "gap": float(gaps[0]),
            "relative": float(rel[0]),
        },
        "tokens": {
            "sum": sums[1:].tolist(),
            "difference": diffs[1:].tolist(),
            "gap": gaps[1:].tolist(),
            "relative": rel[1:].tolist(),
        },
        "max_relative": float(rel.max()),
    }


@dataclass
class GradientInputs:
    """What a gradient method works from.

    Attributes:
        engine: the run's ``core.attribution.gradient.EmbeddingGradients`` (gradients at points).
        x: the attributed prompt's embeddings; baseline: the empty prompt's (the method's baseline token).
        n_target: the target's tokens (rows past it are the contrast's); score: "log_prob" or "prob".
        seed: the run's seed (a sampling method draws its points from it).
        all_scores / none_scores: [sequence, token...] scores at the input and at the baseline.
    """

    engine: Any
    x: torch.Tensor
    baseline: torch.Tensor
    n_target: int
    score: str
    seed: int
    all_scores: np.ndarray
    none_scores: np.ndarray


@dataclass
class GradientOutcome:
    """A gradient method's attributions: token (rows x tokens) and sequence (tokens), what it adds to the
    result's ``extra``, and, for a sampling method, each point's (token, sequence) attributions (their
    spread is its standard error)."""

    token: np.ndarray
    seq: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)
    samples: tuple[np.ndarray, np.ndarray] | None = None
