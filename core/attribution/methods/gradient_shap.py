"""Gradient SHAP: input x gradient averaged at random points between noisy baselines and the input."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.attribution.gradient_rules import GradientInputs, GradientOutcome, score_weights
from core.attribution.methods.declaration import (
    AGGREGATE,
    BASELINE_TOKEN,
    INTERNAL_BATCH,
    N_SAMPLES,
    MethodInfo,
    Param,
)


def gradients(given: GradientInputs, params: Any) -> GradientOutcome:
    """Random points between noisy copies of the input and the baseline; each point's attribution kept."""
    x, baseline = given.x, given.baseline
    n = params["n_samples"]
    gen = torch.Generator().manual_seed(given.seed)
    noise = torch.randn((n, *x.shape), generator=gen, dtype=x.dtype) * float(params["stdev"])
    alphas = torch.rand(n, generator=gen, dtype=x.dtype)
    noisy = x[None] + noise.to(x.device)
    directions = noisy - baseline[None]
    points = baseline[None] + alphas.to(x.device)[:, None, None] * directions
    res = given.engine.gradients(points, directions)
    w = score_weights(res.logp, given.n_target, given.score)
    # each random point's own attribution: their mean is the attribution, their spread its standard error
    samples = (np.einsum("sr,sri->sri", w.token, res.dots), np.einsum("sr,sri->si", w.seq, res.dots))
    token, seq = samples[0].mean(axis=0), samples[1].mean(axis=0)
    return GradientOutcome(token, seq, {"n_samples": n, "stdev": params["stdev"], "seed": given.seed}, samples)


METHOD = MethodInfo(
    "gradient_shap",
    "Gradient SHAP",
    "gradient",
    "Averages input x gradient at random points between noisy baselines and the input.",
    (
        Param(N_SAMPLES, "int", 20, "Samples", "Random points to average over.", 1, 1000),
        Param(
            "stdev",
            "float",
            0.0,
            "Noise",
            "Standard deviation of Gaussian noise added to the input embeddings.",
            0.0,
            100.0,
        ),
        BASELINE_TOKEN,
        AGGREGATE,
        INTERNAL_BATCH,
    ),

    gradients=gradients,
    baseline_token=True,
    work_param=N_SAMPLES,
)
