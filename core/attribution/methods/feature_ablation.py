"""Feature ablation: the full prompt, then each feature removed alone."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.attribution.methods.declaration import MethodInfo
from core.attribution.perturbation import Plan, Poll, no_poll


def plan_ablation(n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = no_poll) -> Plan:
    """All features, then each feature removed alone."""
    masks = np.ones((n + 1, n), dtype=bool)
    masks[np.arange(1, n + 1), np.arange(n)] = False
    return Plan(masks, {})



def combine_ablation(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """attr[:, i] = v(all) - v(all without i)."""
    return (values[0][None, :] - values[1:]).T



def rows(n: int, params: Any) -> int:
    """The full prompt and one coalition per feature."""
    return n + 1


METHOD = MethodInfo(
    "feature_ablation",
    "Feature ablation",
    "perturbation",
    "Removes (or replaces) one feature at a time and measures how the target's score changes.",

    plan=plan_ablation,
    combine=combine_ablation,
    rows=rows,
    single_removals=True,
)
