"""Integrated gradients: the gradient integrated along a straight path from the baseline to the prompt."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.attribution.gradient_rules import (
    GradientInputs,
    GradientOutcome,
    combine_points,
    completeness,
    quadrature,
    score_weights,
)
from core.attribution.methods.declaration import AGGREGATE, BASELINE_TOKEN, INTERNAL_BATCH, MethodInfo, Param


def gradients(given: GradientInputs, params: Any) -> GradientOutcome:
    """The quadrature's points between the baseline and the prompt, combined with its weights."""
    x, baseline, engine = given.x, given.baseline, given.engine
    alphas, weights = quadrature(params["rule"], params["steps"])
    a = torch.tensor(alphas, dtype=x.dtype, device=x.device)[:, None, None]
    points = baseline + a * (x - baseline)
    res = engine.gradients(points, x - baseline)
    token, seq = combine_points(res.dots, score_weights(res.logp, given.n_target, given.score), np.array(weights))
    extra = {"steps": params["steps"], "rule": params["rule"]}
    extra["completeness"] = completeness(token, seq, given.all_scores, given.none_scores)
    return GradientOutcome(token, seq, extra)


METHOD = MethodInfo(
    "integrated_gradients",
    "Integrated gradients",
    "gradient",
    "Integrates the gradient along a straight path from a baseline to the prompt's "
    "token embeddings.",
    (
        Param(
            "steps",
            "int",
            50,
            "Steps",
            "How many points between the empty prompt and the real one are measured; more steps "
            "make the numbers add up more exactly (see the check under the result) and take longer.",
            1,
            1000,
        ),
        Param(
            "rule",
            "choice",
            "gausslegendre",
            "How the points are spread",
            "Where the points between the empty prompt and the real one lie. Gauss-Legendre needs "
            "the fewest steps; the others are equal spacings, kept to match other tools.",
            choices=("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"),
            choice_labels=(
                "evenly, from the start",
                "evenly, up to the end",
                "evenly, mid-way",
                "evenly, trapezoid",
                "Gauss-Legendre (best for few steps)",
            ),
        ),
        BASELINE_TOKEN,
        AGGREGATE,
        INTERNAL_BATCH,
    ),

    gradients=gradients,
    baseline_token=True,
    work_param="steps",
)
