"""Shapley value sampling: random orderings of the features, their growing prefixes scored."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.attribution.methods.declaration import N_SAMPLES, MethodInfo, Param, paired
from core.attribution.pair_design import MAX_GREEDY_PAIRS, OrderDesign, canonical
from core.attribution.perturbation import Plan, Poll, no_poll, plan_kriging
from core.attribution.uncertainty import paired_stderr


def plan_shapley_sampling(
    n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = no_poll
) -> Plan:
    """Random feature orderings; each ordering's growing prefixes are coalitions.

    Row j of ordering p holds the first j features of the ordering: feature i is
    present when its rank in the ordering is below j. Without ``paired`` (the default
    for callers that do not say, as Captum draws them) every ordering is drawn on its
    own and the estimate is the mean marginal contribution.

    With ``paired`` every second ordering is the one before it reversed (antithetic
    sampling), so the prefixes come with their complements; each feature alone and
    all but each feature are scored too (2n coalitions, after the orderings' rows);
    the first ordering of each pair is the most informative of
    :data:`~core.attribution.pair_design.ORDER_TRIES` random ones
    (:class:`~core.attribution.pair_design.OrderDesign`; past
    :data:`~core.attribution.pair_design.MAX_GREEDY_PAIRS` pairs, blocks of n rotations
    of one random ordering, a Latin square); and the estimate is
    :func:`~core.attribution.shapley_kriging.kriged_shapley`.
    ``bench/bench_sampling.py`` measures it against Captum at equal forward passes.
    """
    n_perm = int(METHOD.setting(params, "n_samples"))
    paired = bool(METHOD.setting(params, "paired"))
    singles = paired and n >= 3
    design = None
    if singles and (n_perm // 2 + 1) * (n - 3) + n + 1 <= MAX_GREEDY_PAIRS:
        start = np.vstack([np.zeros((1, n), bool), np.eye(n, dtype=bool)])
        design = OrderDesign(np.vstack([canonical(r) for r in start]))
    perms = np.empty((n_perm, n), dtype=np.int64)
    base, shifts = np.arange(n), np.arange(n)
    for p in range(n_perm):
        poll()
        if not paired:
            perms[p] = rng.permutation(n)
        elif p % 2 == 1:
            perms[p] = perms[p - 1][::-1]
        elif design is not None:
            perms[p] = design.pick(rng, n)
        else:
            j = (p // 2) % n
            if j == 0:
                base, shifts = rng.permutation(n), rng.permutation(n)
            perms[p] = np.roll(base, shifts[j])
    ranks = np.argsort(perms, axis=1)
    masks = (ranks[:, None, :] < np.arange(n + 1)[None, :, None]).reshape(n_perm * (n + 1), n)
    if singles:
        ones = np.eye(n, dtype=bool)
        masks = np.vstack([masks, ones, ~ones])
    return Plan(masks, {"perms": perms, "paired": paired})



def contributions(plan: Plan, values: np.ndarray) -> np.ndarray:
    """Each ordering's marginal contributions (orderings x outputs x features) of a Shapley-sampling plan.

    With paired orderings, each pair's mean (pairs x outputs x features), an
    independent sample; a lone last ordering of an odd count is left out.
    """
    perms = plan.extra["perms"]
    n_perm, n = perms.shape
    out = np.zeros((n_perm, values.shape[1], n))
    for p, perm in enumerate(perms):
        block = values[p * (n + 1) : (p + 1) * (n + 1)]
        out[p][:, perm] = (block[1:] - block[:-1]).T
    if plan.extra.get("paired") and n_perm >= 2:
        pairs = n_perm // 2
        return 0.5 * (out[0 : 2 * pairs : 2] + out[1 : 2 * pairs : 2])
    return out



def combine_shapley_sampling(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Kriged from the complement pairs when the orderings are paired, else the average marginal contribution."""
    if plan.extra.get("paired"):
        kriged = plan_kriging(plan, values)
        if kriged is not None:
            return kriged[0]
    perms = plan.extra["perms"]
    n_perm, n = perms.shape
    attr = np.zeros((values.shape[1], n))
    for p, perm in enumerate(perms):
        block = values[p * (n + 1) : (p + 1) * (n + 1)]
        deltas = block[1:] - block[:-1]
        attr[:, perm] += deltas.T
    return attr / n_perm



def rows(n: int, params: Any) -> int:
    """Each ordering's n + 1 prefixes, and with ``paired`` (n >= 3) each feature alone and all but each."""
    singles = 2 * n if METHOD.setting(params, "paired") and n >= 3 else 0
    return int(METHOD.setting(params, "n_samples")) * (n + 1) + singles


def stderr(plan: Plan, values: np.ndarray, params: Any, rng: np.random.Generator) -> np.ndarray | None:
    """The kriging's posterior deviation when paired; else the spread of the orderings' contributions."""
    kriged = paired_stderr(plan, values)
    if kriged is not None:
        return kriged
    units = contributions(plan, values)  # units x outputs x features
    if len(units) < 2:
        return None
    return units.std(axis=0, ddof=1) / np.sqrt(len(units))


METHOD = MethodInfo(
    "shapley_sampling",
    "Shapley value sampling",
    "perturbation",
    "Estimates Shapley values from random orderings of the features.",
    (
        Param(
            N_SAMPLES,
            "int",
            25,
            "Orderings",
            "How many random orderings of the features to average over.",
            1,
            10000,
        ),
        paired(
            "Walk every second ordering in reverse, score each feature alone and all but each, pick "
            "each ordering as the most informative of several random ones, and estimate from every "
            "coalition with its complement: about half Captum's error for the same model "
            "evaluations. Off: every ordering drawn on its own and averaged, as Captum does."
        ),
    ),

    plan=plan_shapley_sampling,
    combine=combine_shapley_sampling,
    rows=rows,
    stderr=stderr,
    work_param=N_SAMPLES,
)
