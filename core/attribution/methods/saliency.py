"""Saliency: the size (or signed sum) of the score's gradient at each token's embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.attribution.gradient_rules import GradientInputs, GradientOutcome, score_weights
from core.attribution.methods.declaration import AGGREGATE, INTERNAL_BATCH, MethodInfo, Param


def gradients(given: GradientInputs, params: Any) -> GradientOutcome:
    """The full gradients at the prompt, weighted per output row, as norms (or signed sums) per token."""
    res = given.engine.gradients(given.x[None], None, keep_full=True)
    w = score_weights(res.logp, given.n_target, given.score)
    g = res.grads[0].astype(np.float64)  # rows x n x hidden
    token_g = w.token[0][:, None, None] * g
    seq_g = np.einsum("r,rih->ih", w.seq[0], g)
    if params["signed"]:
        token, seq = token_g.sum(-1), seq_g.sum(-1)
    else:
        token, seq = np.linalg.norm(token_g, axis=-1), np.linalg.norm(seq_g, axis=-1)
    return GradientOutcome(token, seq, {"signed": params["signed"]})


METHOD = MethodInfo(
    "saliency",
    "Saliency",
    "gradient",
    "The gradient of the score with respect to each token's embedding.",
    (
        Param(
            "signed",
            "bool",
            False,
            "Signed",
            "Sum the signed gradient instead of taking its size (norm).",
        ),
        AGGREGATE,
        INTERNAL_BATCH,
    ),

    gradients=gradients,
)
