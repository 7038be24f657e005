"""Kernel SHAP: a weighted linear fit to coalitions drawn by the SHAP kernel."""

from __future__ import annotations

from itertools import combinations
from math import comb
from typing import Any

import numpy as np

from core.attribution.methods.declaration import N_SAMPLES, MethodInfo, Param, paired
from core.attribution.pair_design import MAX_GREEDY_PAIRS, POOL_FACTOR, canonical, greedy_pairs
from core.attribution.perturbation import Plan, Poll, all_masks, no_poll, plan_kriging
from core.attribution.uncertainty import bootstrap_stderr, paired_stderr


def plan_kernel_shap(n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = no_poll) -> Plan:
    """Coalitions for Kernel SHAP: all of them when affordable, else drawn by the SHAP kernel.

    The empty and full coalitions are always included (they fix the efficiency
    constraint). With every coalition and the exact kernel weights the result
    equals exact Shapley values. With ``paired`` the coalitions are chosen as the
    SHAP library does (:func:`plan_kernel_shap_paired`); without it (the default
    for callers that do not say) each is drawn on its own.
    """
    n_samples = int(METHOD.setting(params, "n_samples"))
    empty, full = np.zeros((1, n), bool), np.ones((1, n), bool)
    if n == 1:
        return Plan(np.vstack([empty, full]), {"weights": np.zeros(0), "exact": True})
    if n_samples >= 2**n - 2 or n <= 2:
        inner = all_masks(n)[1:-1]
        weights = _kernel_weight(n, inner.sum(axis=1))
        return Plan(np.vstack([empty, full, inner]), {"weights": weights, "exact": True})
    if METHOD.setting(params, "paired"):
        inner, weights, sampled = plan_kernel_shap_paired(n, n_samples, rng, poll)
        return Plan(np.vstack([empty, full, inner]), {"weights": weights, "sampled": sampled, "paired": True})
    sizes = np.arange(1, n)
    p = (n - 1) / (sizes * (n - sizes))
    p = p / p.sum()
    drawn = rng.choice(sizes, size=n_samples, p=p)
    inner = np.zeros((n_samples, n), dtype=bool)
    for r, s in enumerate(drawn):
        poll()
        inner[r, rng.choice(n, size=int(s), replace=False)] = True
    return Plan(np.vstack([empty, full, inner]), {"weights": np.ones(n_samples)})



def _subsets(n: int, size: int) -> np.ndarray:
    """Every coalition of ``size`` features of n (rows), in lexicographic order; C(n, size) rows, never 2^n."""
    combos = list(combinations(range(n), size))
    masks = np.zeros((len(combos), n), dtype=bool)
    for r, members in enumerate(combos):
        masks[r, list(members)] = True
    return masks



def _kernel_weight(n: int, size: np.ndarray) -> np.ndarray:
    """The SHAP kernel's weight of one coalition of each size: (n - 1) / (C(n, s) s (n - s))."""
    return np.array([(n - 1) / (float(comb(n, int(k))) * int(k) * (n - int(k))) for k in size])



def plan_kernel_shap_paired(
    n: int, n_samples: int, rng: np.random.Generator, poll: Poll = no_poll
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_samples`` distinct inner coalitions, their kernel weights and which were drawn at random.

    The coalitions of one feature and of all but one, which the kernel weighs most, are
    taken whole (when the samples can pay for them), with their exact weights. The rest
    come with their complements (paired), drawn with every size alike (leverage-score
    sampling, Musco & Witter 2024). Up to
    :data:`~core.attribution.pair_design.MAX_GREEDY_PAIRS` pairs, the plan draws a pool of
    :data:`~core.attribution.pair_design.POOL_FACTOR` times the pairs it needs and keeps,
    one by one, those that tell most about the Shapley values
    (:func:`~core.attribution.pair_design.greedy_pairs`); above, it keeps the draws as they
    come (stopping at ``n_samples`` distinct coalitions or after ten times as many draws).
    Each kept coalition is weighted by the kernel's weight over the chance of its draw
    (a coalition drawn twice counts twice): the weights the classical fit uses when the
    kriging (:func:`~core.attribution.shapley_kriging.kriged_shapley`) cannot.
    ``bench/bench_sampling.py`` measures it against Captum's ``KernelShap`` at equal
    forward passes.
    """
    half = n // 2  # sizes 1..half; a size above half is the complement of one below
    rows: list[np.ndarray] = []
    weights: list[float] = []
    left, first = n_samples, 1
    if left >= 2 * n:
        ones = _subsets(n, 1)
        rows += [ones, ~ones]
        weights += [float(_kernel_weight(n, np.array([1]))[0])] * (2 * n)
        left -= 2 * n
        first = 2
    fixed = sum(len(r) for r in rows)
    sizes = np.arange(first, half + 1)
    greedy = 0 < (left + 1) // 2 <= MAX_GREEDY_PAIRS and len(sizes) > 0
    target = min(POOL_FACTOR * ((left + 1) // 2), 2 ** (n - 1)) if greedy else left
    drawn: dict[bytes, int] = {}
    drawn_rows: list[np.ndarray] = []
    counts: list[int] = []
    for _ in range(10 * target if len(sizes) else 0):
        if (greedy and len(drawn_rows) >= target) or (not greedy and left <= 0):
            break
        poll()
        s = int(rng.choice(sizes))
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, size=s, replace=False)] = True
        if greedy:
            pair = canonical(mask)
            key = pair.tobytes()
            if key in drawn:
                counts[drawn[key]] += 1
            else:
                drawn[key] = len(drawn_rows)
                drawn_rows.append(pair)
                counts.append(1)
            continue
        for m in (mask, ~mask):
            key = np.packbits(m).tobytes()
            if key in drawn:
                counts[drawn[key]] += 1
            elif left > 0:
                drawn[key] = len(drawn_rows)
                drawn_rows.append(m)
                counts.append(1)
                left -= 1
    if greedy and drawn_rows:
        start = [np.zeros((1, n), bool)]  # the empty coalition, and the single features when taken
        if fixed:
            start.append(np.vstack([canonical(r) for r in rows[0]]))
        chosen = np.vstack(start)
        picked = greedy_pairs(chosen, np.vstack(drawn_rows), (left + 1) // 2, poll)
        kept: list[np.ndarray] = []
        for j in picked:
            for m in (drawn_rows[j], ~drawn_rows[j]):
                if left > 0:
                    kept.append(m)
                    left -= 1
        drawn_rows, counts = kept, [1] * len(kept)
    if drawn_rows:
        block = np.vstack(drawn_rows)
        size = np.minimum(block.sum(axis=1), n - block.sum(axis=1))
        chance = 1.0 / (len(sizes) * np.array([float(comb(n, int(k))) for k in size]))
        c = np.asarray(counts, dtype=float)
        rows.append(block)
        weights += (_kernel_weight(n, size) / chance * c / c.sum()).tolist()
    inner = np.vstack(rows) if rows else np.zeros((0, n), dtype=bool)
    sampled = np.arange(len(inner)) >= fixed
    return inner, np.asarray(weights, dtype=float), sampled



def combine_kernel_shap(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Kriged from the complement pairs when paired and sampled, else weighted least squares under the
    constraint sum(attr) = v(all) - v(none)."""
    if plan.extra.get("paired") and not plan.extra.get("exact"):
        kriged = plan_kriging(plan, values)
        if kriged is not None:
            return kriged[0]
    n = plan.masks.shape[1]
    v_empty, v_full = values[0], values[1]
    total = v_full - v_empty
    if n == 1:
        return total[:, None].copy()
    z = plan.masks[2:].astype(float)
    w = plan.extra["weights"]
    y = values[2:] - v_empty[None, :] - z[:, -1:] * total[None, :]
    x = z[:, :-1] - z[:, -1:]
    sw = np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(x * sw, y * sw, rcond=None)
    last = total - coef.sum(axis=0)
    return np.vstack([coef, last[None, :]]).T



def rows(n: int, params: Any) -> int:
    """Every coalition when the samples can pay for them (or n <= 2), else the samples with the empty and full one."""
    n_samples = int(METHOD.setting(params, "n_samples"))
    if n == 1:
        return 2
    return 2**n if n <= 2 or n_samples >= 2**n - 2 else n_samples + 2


def stderr(plan: Plan, values: np.ndarray, params: Any, rng: np.random.Generator) -> np.ndarray | None:
    """The kriging's posterior deviation when paired; none when every coalition is scored; else a bootstrap."""
    if plan.extra.get("exact"):
        return None
    kriged = paired_stderr(plan, values)
    if kriged is not None:
        return kriged
    return bootstrap_stderr(plan, values, params, combine_kernel_shap, 2, rng)


METHOD = MethodInfo(
    "kernel_shap",
    "Kernel SHAP",
    "perturbation",
    "Fits a weighted linear model to random combinations of features; approaches "
    "Shapley values as samples grow.",
    (
        Param(
            N_SAMPLES,
            "int",
            200,
            "Samples",
            "How many random combinations of features to evaluate.",
            2,
            100000,
        ),
        paired(
            "Take one and all but one feature whole, add the most informative of many random "
            "combinations, each with its complement, and estimate from the pairs: under half "
            "Captum's error for the same model evaluations. Off: every combination drawn on its "
            "own and fitted, as Captum does."
        ),
    ),

    plan=plan_kernel_shap,
    combine=combine_kernel_shap,
    rows=rows,
    stderr=stderr,
    work_param=N_SAMPLES,
)
