"""LIME: a locally weighted linear fit to random coalitions."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.attribution.methods.declaration import N_SAMPLES, MethodInfo, Param
from core.attribution.perturbation import Plan, Poll, no_poll
from core.attribution.uncertainty import bootstrap_stderr


def plan_lime(n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = no_poll) -> Plan:
    """The full prompt plus random coalitions (each feature kept with probability 1/2)."""
    n_samples = int(METHOD.setting(params, "n_samples"))
    drawn = rng.random((n_samples, n)) < 0.5
    return Plan(np.vstack([np.ones((1, n), bool), drawn]), {})



def lime_weights(masks: np.ndarray, kernel_width: float) -> np.ndarray:
    """Similarity of each coalition to the full prompt: exp(-d^2 / width^2), cosine distance."""
    n = masks.shape[1]
    k = masks.sum(axis=1)
    cosine = np.where(k > 0, np.sqrt(k / n), 0.0)
    distance = 1.0 - cosine
    return np.exp(-(distance**2) / kernel_width**2)



def combine_lime(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Coefficients of a weighted (optionally ridge) linear model with an intercept."""
    masks = plan.masks
    n = masks.shape[1]
    w = lime_weights(masks, float(METHOD.setting(params, "kernel_width")))
    x = np.hstack([masks.astype(float), np.ones((len(masks), 1))])
    sw = np.sqrt(w)[:, None]
    alpha = float(METHOD.setting(params, "alpha"))
    if alpha > 0:
        xtx = (x * sw).T @ (x * sw)
        reg = alpha * np.eye(n + 1)
        reg[-1, -1] = 0.0
        coef = np.linalg.solve(xtx + reg, (x * sw).T @ (values * sw))
    else:
        coef, *_ = np.linalg.lstsq(x * sw, values * sw, rcond=None)
    return coef[:n].T



def rows(n: int, params: Any) -> int:
    """The full prompt and the samples."""
    return int(METHOD.setting(params, "n_samples")) + 1


def stderr(plan: Plan, values: np.ndarray, params: Any, rng: np.random.Generator) -> np.ndarray | None:
    """A bootstrap over the drawn coalitions (the full prompt kept)."""
    return bootstrap_stderr(plan, values, params, combine_lime, 1, rng)


METHOD = MethodInfo(
    "lime",
    "LIME",
    "perturbation",
    "Fits a local linear model to random combinations of features, weighting those "
    "closest to the full prompt most.",
    (
        Param(
            N_SAMPLES,
            "int",
            100,
            "Samples",
            "How many random combinations of features to evaluate.",
            2,
            100000,
        ),
        Param(
            "kernel_width",
            "float",
            1.0,
            "Kernel width",
            "How fast a sample's weight falls with its distance from the full prompt.",
            1e-6,
            1e6,
        ),
        Param(
            "alpha",
            "float",
            0.0,
            "Ridge penalty",
            "Shrinks the linear model's coefficients toward zero (0 = plain least squares).",
            0.0,
            1e6,
        ),
    ),

    plan=plan_lime,
    combine=combine_lime,
    rows=rows,
    stderr=stderr,
    work_param=N_SAMPLES,
)
