"""A sparse linear surrogate, as ContextCite fits one: LASSO on standardised keep-masks, by coordinate descent.

ContextCite (Cohen-Wang et al., NeurIPS 2024) scores random ablations (each source kept with
probability one half) and fits ``score ~ bias + sum_i w_i * kept_i`` with an L1 penalty; the
weights are the sources' attributions. scikit-learn is not a dependency of WhyLM, so the fit is
a small coordinate descent in numpy, with scikit-learn's objective:
``1 / (2 n) * ||y - X w - b||^2 + alpha * ||w||_1`` on standardised columns.
"""

from __future__ import annotations

import numpy as np

LASSO_ALPHA = 0.01
"""The L1 penalty (ContextCite's default), on the score per answer token."""


def lasso_fit(masks: np.ndarray, y: np.ndarray, alpha: float = LASSO_ALPHA, sweeps: int = 500) -> np.ndarray:
    """Weights (one per column of ``masks``) of the LASSO fit of ``y`` on the masks, in the masks' own scale.

    Columns are standardised (a constant column gets weight 0), the intercept is free, as in
    ``sklearn.pipeline.make_pipeline(StandardScaler(), Lasso(alpha))``.
    """
    x = np.asarray(masks, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = x.shape
    mean, scale = x.mean(axis=0), x.std(axis=0)
    live = scale > 0
    z = np.zeros_like(x)
    z[:, live] = (x[:, live] - mean[live]) / scale[live]
    r = y - y.mean()
    w = np.zeros(p)
    norms = (z**2).sum(axis=0) / n
    for _ in range(sweeps):
        biggest = 0.0
        for j in np.flatnonzero(live):
            old = w[j]
            rho = z[:, j] @ r / n + norms[j] * old
            new = np.sign(rho) * max(abs(rho) - alpha, 0.0) / norms[j]
            if new != old:
                r -= z[:, j] * (new - old)
                w[j] = new
                biggest = max(biggest, abs(new - old))
        if biggest < 1e-9:
            break
    out = np.zeros(p)
    out[live] = w[live] / scale[live]
    return out
