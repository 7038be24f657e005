"""Perturbation methods over coalitions of features.

Each method is two pure steps: ``plan`` draws the coalitions (boolean masks,
one row per evaluation, True = feature present) and ``combine`` turns their
values into attributions. Values are a matrix (coalitions x outputs): the
sequence score and each output token's score side by side, so every method
gives per-token attributions from the same evaluations. The engine evaluates
each distinct coalition once.

What a run may plan is declared here once: :func:`plan_problem` refuses, with a
sentence, a plan over :data:`MAX_PLANNED_COALITIONS` coalitions or over
:data:`PLAN_MEMORY_BUDGET` bytes (the spec parsers call it up front, the runners
again once the prompt is laid out), and a planner given ``poll`` calls it while it
works, so that Stop (:class:`StopPoll`) is heard within a fraction of a second.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from math import comb, factorial
from typing import Any

import numpy as np

from core.attribution.methods import setting
from core.attribution.pair_design import MAX_GREEDY_PAIRS, POOL_FACTOR, OrderDesign, canonical, greedy_pairs
from core.attribution.shapley_kriging import kriged_shapley
from core.errors import Cancelled, SpecError

ValueFn = Callable[[np.ndarray], np.ndarray]
Poll = Callable[[], None]
"""Called now and then by long loops; raises ``Cancelled`` when the run is to stop."""

MAX_PLANNED_COALITIONS = 2**21
"""The most coalitions one run may plan over all its trials (and, in the bias probe, all its
attributed prompts): exact Shapley over 20 features twice. Every one is a model evaluation."""
PLAN_MEMORY_BUDGET = 2 << 30
"""The most memory (bytes) the planned coalitions and their prompts may take, by :func:`plan_memory`."""
PROMPT_BYTES = 2304
"""Memory a planned prompt takes besides its characters (see :func:`plan_memory`)."""
CHAR_BYTES = 24
"""Memory a planned prompt takes per character (its text and its token ids)."""
CODE_BITS = 62
"""Up to this many features a coalition's code is one whole number (bit i = feature i)."""


class StopPoll:
    """A ``Poll`` over the engine's Stop callback: asks it at most every ``interval`` seconds.

    Cheap enough to call for every planned coalition; raises ``Cancelled`` as soon as
    ``should_stop()`` says so. With no callback it does nothing.
    """

    def __init__(self, should_stop: Callable[[], bool] | None, interval: float = 0.05) -> None:
        self.should_stop = should_stop
        self.interval = interval
        self._next = 0.0

    def __call__(self) -> None:
        """Raise ``Cancelled`` when the run was asked to stop (checked every ``interval`` seconds)."""
        if self.should_stop is None:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        if self.should_stop():
            raise Cancelled()


def _no_poll() -> None:
    """The ``Poll`` of a planner nobody can stop."""


def all_masks(n: int) -> np.ndarray:
    """Every coalition of n features; row m has feature i present when bit i of m is set."""
    m = np.arange(2**n, dtype=np.int64)
    return ((m[:, None] >> np.arange(n)) & 1).astype(bool)


def mask_codes(masks: np.ndarray) -> np.ndarray:
    """A code per mask for de-duplication (equal masks, equal codes; ``np.unique`` sorts them).

    Up to :data:`CODE_BITS` features the code is the whole number with bit i set for
    feature i present; above, the mask's packed bytes (a whole number would overflow
    and merge different coalitions).
    """
    n = masks.shape[1]
    if n <= CODE_BITS:
        return (masks.astype(np.int64) << np.arange(n, dtype=np.int64)).sum(axis=1)
    packed = np.ascontiguousarray(np.packbits(masks, axis=1))
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def mask_ints(masks: np.ndarray) -> list[int]:
    """Each mask as a Python whole number, bit i = feature i present (exact for any number of features)."""
    packed = np.packbits(masks, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


# ---------------------------------------------------------------- what a plan costs


def plan_rows(method: str, n: int, params: dict[str, Any]) -> int:
    """How many coalitions one plan of ``method`` over ``n`` features holds (before de-duplication)."""
    if method == "shapley":
        return 2**n
    if method == "shapley_sampling":
        singles = 2 * n if setting(method, params, "paired") and n >= 3 else 0
        return int(setting(method, params, "n_samples")) * (n + 1) + singles
    if method == "kernel_shap":
        n_samples = int(setting(method, params, "n_samples"))
        if n == 1:
            return 2
        return 2**n if n <= 2 or n_samples >= 2**n - 2 else n_samples + 2
    if method == "lime":
        return int(setting(method, params, "n_samples")) + 1
    return n + 1  # feature ablation


def plan_memory(rows: int, n: int, prompt_chars: int, prompts: int | None = None) -> int:
    """Bytes that ``rows`` planned coalitions of ``n`` features take, with their prompts.

    Each coalition keeps its mask (n bytes) and three indices (24 bytes); each
    distinct prompt (``prompts``; at most ``rows`` when None) its text, its token ids
    as Python numbers and the scorer's row: measured with the bundled model's
    tokenizer, about 2 KB plus 21 bytes per character (65,536 prompts of 104
    characters took 295 MB, 16,384 of 882 characters 326 MB), rounded up here.
    """
    prompts = rows if prompts is None else prompts
    return rows * (n + 24) + prompts * (PROMPT_BYTES + CHAR_BYTES * prompt_chars)


def _count(n: int) -> str:
    """A count that may be astronomically large, in words ("1,048,576", "2^300")."""
    return f"{n:,}" if n < 10**15 else f"2^{n.bit_length() - 1}"


def plan_problem(
    method: str,
    n: int,
    params: dict[str, Any],
    plans: int = 1,
    prompt_chars: int = 0,
    same_prompts: bool = False,
) -> str | None:
    """Why ``plans`` plans of ``method`` over ``n`` features cannot run, in one sentence; None when they can.

    Args:
        method: a perturbation method's name.
        n: features.
        params: the method's parameters.
        plans: how many plans the run makes (trials, times attributed prompts in the bias probe).
        prompt_chars: characters of the prompt with every feature present (0 leaves prompts out).
        same_prompts: every plan fills the same prompt with the same baselines (trials
            without sampled baselines), so there are at most 2^n distinct prompts in all.
    """
    limit = int(setting("shapley", params, "max_features"))
    if method == "shapley" and n > limit:
        return (
            f"exact Shapley values over {n} features need {_count(2**n)} model evaluations, more than "
            f"the limit of {limit} features allows; use shapley_sampling or kernel_shap, or group "
            "slots into fewer features."
        )
    per_plan = plan_rows(method, n, params)
    rows = per_plan * plans
    if rows > MAX_PLANNED_COALITIONS:
        times = f" x {plans:,} (trials or prompts)" if plans > 1 else ""
        return (
            f"{method} over {n} features plans {_count(per_plan)} coalitions{times} = {_count(rows)} model "
            f"evaluations, more than the {MAX_PLANNED_COALITIONS:,} one run may plan; lower the trials or "
            "n_samples, or group slots into fewer features."
        )
    prompts = min(rows, 2**n) if same_prompts and n < 64 else rows
    memory = plan_memory(rows, n, prompt_chars, prompts)
    if memory > PLAN_MEMORY_BUDGET:
        return (
            f"{method} over {n} features plans {_count(prompts)} prompts of about {prompt_chars:,} characters, "
            f"about {memory / 2**30:.1f} GiB, more than the {PLAN_MEMORY_BUDGET / 2**30:.0f} GiB one run may "
            "plan; lower the trials or n_samples, shorten the prompt, or group slots into fewer features."
        )
    return None


@dataclass
class Plan:
    """Coalitions to evaluate and what the combiner needs to know about them."""

    masks: np.ndarray
    extra: dict[str, Any]


def plan_kriging(plan: Plan, values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`~core.attribution.shapley_kriging.kriged_shapley` of a paired plan's values, computed once.

    The attribution and its standard error come from the same solve: the first call
    keeps the result in the plan (with a digest of the values), the next returns it.
    """
    digest = hashlib.blake2b(np.ascontiguousarray(values, dtype=float).tobytes(), digest_size=16).digest()
    kept = plan.extra.get("kriged")
    if kept is not None and kept[0] == digest:
        return kept[1]
    result = kriged_shapley(plan.masks, values)
    plan.extra["kriged"] = (digest, result)
    return result


# ---------------------------------------------------------------- ablation


def plan_ablation(n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = _no_poll) -> Plan:
    """All features, then each feature removed alone."""
    masks = np.ones((n + 1, n), dtype=bool)
    masks[np.arange(1, n + 1), np.arange(n)] = False
    return Plan(masks, {})


def combine_ablation(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """attr[:, i] = v(all) - v(all without i)."""
    return (values[0][None, :] - values[1:]).T


# ---------------------------------------------------------------- exact Shapley


def plan_shapley(n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = _no_poll) -> Plan:
    """All 2^n coalitions (each distinct coalition once); a SpecError above ``max_features``."""
    problem = plan_problem("shapley", n, params)
    if problem:
        raise SpecError("method.name", problem)
    return Plan(all_masks(n), {})


def combine_shapley(plan: Plan, values: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Exact Shapley values from the values of all 2^n coalitions."""
    n = plan.masks.shape[1]
    sizes = plan.masks.sum(axis=1)
    weights = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    codes = np.arange(2**n)
    attr = np.zeros((values.shape[1], n))
    for i in range(n):
        without = codes[(codes >> i) & 1 == 0]
        with_i = without | (1 << i)
        w = weights[sizes[without]]
        attr[:, i] = (w[:, None] * (values[with_i] - values[without])).sum(axis=0)
    return attr


# ---------------------------------------------------------------- Shapley sampling


def plan_shapley_sampling(
    n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = _no_poll
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
    n_perm = int(setting("shapley_sampling", params, "n_samples"))
    paired = bool(setting("shapley_sampling", params, "paired"))
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


# ---------------------------------------------------------------- Kernel SHAP


def plan_kernel_shap(n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = _no_poll) -> Plan:
    """Coalitions for Kernel SHAP: all of them when affordable, else drawn by the SHAP kernel.

    The empty and full coalitions are always included (they fix the efficiency
    constraint). With every coalition and the exact kernel weights the result
    equals exact Shapley values. With ``paired`` the coalitions are chosen as the
    SHAP library does (:func:`plan_kernel_shap_paired`); without it (the default
    for callers that do not say) each is drawn on its own.
    """
    n_samples = int(setting("kernel_shap", params, "n_samples"))
    empty, full = np.zeros((1, n), bool), np.ones((1, n), bool)
    if n == 1:
        return Plan(np.vstack([empty, full]), {"weights": np.zeros(0), "exact": True})
    if n_samples >= 2**n - 2 or n <= 2:
        inner = all_masks(n)[1:-1]
        weights = _kernel_weight(n, inner.sum(axis=1))
        return Plan(np.vstack([empty, full, inner]), {"weights": weights, "exact": True})
    if setting("kernel_shap", params, "paired"):
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
    n: int, n_samples: int, rng: np.random.Generator, poll: Poll = _no_poll
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


# ---------------------------------------------------------------- LIME


def plan_lime(n: int, params: dict[str, Any], rng: np.random.Generator, poll: Poll = _no_poll) -> Plan:
    """The full prompt plus random coalitions (each feature kept with probability 1/2)."""
    n_samples = int(setting("lime", params, "n_samples"))
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
    w = lime_weights(masks, float(setting("lime", params, "kernel_width")))
    x = np.hstack([masks.astype(float), np.ones((len(masks), 1))])
    sw = np.sqrt(w)[:, None]
    alpha = float(setting("lime", params, "alpha"))
    if alpha > 0:
        xtx = (x * sw).T @ (x * sw)
        reg = alpha * np.eye(n + 1)
        reg[-1, -1] = 0.0
        coef = np.linalg.solve(xtx + reg, (x * sw).T @ (values * sw))
    else:
        coef, *_ = np.linalg.lstsq(x * sw, values * sw, rcond=None)
    return coef[:n].T


PLANNERS = {
    "feature_ablation": (plan_ablation, combine_ablation),
    "shapley": (plan_shapley, combine_shapley),
    "shapley_sampling": (plan_shapley_sampling, combine_shapley_sampling),
    "kernel_shap": (plan_kernel_shap, combine_kernel_shap),
    "lime": (plan_lime, combine_lime),
}


def attribute(
    method: str,
    n: int,
    value_fn: ValueFn,
    params: dict[str, Any],
    rng: np.random.Generator,
    poll: Poll = _no_poll,
) -> np.ndarray:
    """Attributions (outputs x features) of a value function over coalitions of n features.

    ``value_fn`` maps a boolean mask matrix (k x n) to values (k x outputs).
    Distinct coalitions are passed once. ``poll`` is called while planning.
    """
    planner, combiner = PLANNERS[method]
    plan = planner(n, params, rng, poll=poll)
    codes = mask_codes(plan.masks)
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    values = np.asarray(value_fn(plan.masks[first]), dtype=float)
    return combiner(plan, values[inverse.reshape(-1)], params)


def polled(items: Any, poll: Poll) -> Any:
    """The items of an iterable, calling ``poll`` before each (so a long loop hears Stop)."""
    for item in items:
        poll()
        yield item


def in_chunks(
    fn: Callable[[list[str]], list[Any]], texts: list[str], poll: Poll, size: int = 1024, chars: int = 65_536
) -> list[Any]:
    """``fn(texts)`` computed a chunk at a time, with ``poll`` before each chunk, results joined.

    A chunk holds at most ``size`` texts and, past its first, ``chars`` characters. For
    work that is one call over many texts (encoding every planned prompt: about 10 s for
    65,536 short prompts with the bundled tokenizer), so that it hears Stop between chunks.
    """
    out: list[Any] = []
    start = 0
    while start < len(texts):
        end, total = start, 0
        while end < len(texts) and end - start < size and (end == start or total + len(texts[end]) <= chars):
            total += len(texts[end])
            end += 1
        poll()
        out.extend(fn(texts[start:end]))
        start = end
    return out
