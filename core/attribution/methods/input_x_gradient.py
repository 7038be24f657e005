"""Input x gradient: each token embedding times the score's gradient with respect to it."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.attribution.gradient_rules import GradientInputs, GradientOutcome, combine_points, score_weights
from core.attribution.methods.declaration import AGGREGATE, INTERNAL_BATCH, MethodInfo


def gradients(given: GradientInputs, params: Any) -> GradientOutcome:
    """One point, the prompt itself, dotted with its own embeddings."""
    x = given.x
    res = given.engine.gradients(x[None], x)
    token, seq = combine_points(res.dots, score_weights(res.logp, given.n_target, given.score), np.ones(1))
    return GradientOutcome(token, seq)


METHOD = MethodInfo(
    "input_x_gradient",
    "Input x gradient",
    "gradient",
    "Each token embedding times the score's gradient with respect to it.",
    (
        AGGREGATE,
        INTERNAL_BATCH,
    ),

    gradients=gradients,
)
