"""Which slot carries each gap: slot shares with intervals, and when they are not estimated.

The bias probe attributes some sweep prompts: in each, every swept slot is
replaced by the other group's values (a counterfactual). Per prompt that gives a
share per slot; half the difference of the two compared groups' mean shares
estimates each slot's share of the gap (first minus second group), on the
gap's own scale. :func:`share_intervals` resamples the attributed prompts of
each group (a bootstrap, like the gap's) to give each share, and their total, an
interval.

A share estimated from a few prompts can contradict the gap measured on all of
them (the issue's case: 4 of 20 prompts, a gap of +0.14 read as a share of
-0.29). :func:`estimated` refuses such a reading: the shares are "not estimated"
when fewer than :data:`MIN_PER_GROUP` prompts of a group were attributed, or when
the interval of their total and the gap's interval do not overlap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.present.charts import finite_or_none
from core.probes.bias.stats import CHUNK_BYTES

MIN_PER_GROUP = 3
"""Attributed prompts a compared group needs before its shares get an interval."""


def share_intervals(
    first: list[np.ndarray], second: list[np.ndarray], n_resamples: int, rng: np.random.Generator, level: float
) -> dict[str, np.ndarray]:
    """Bootstrap intervals of the gap shares (candidates x features) and of their total (candidates x 1).

    ``first`` and ``second`` hold each attributed prompt's shares (candidates x features) for
    the two compared groups; prompts are resampled within their group. Returns ``gap_low``,
    ``gap_high``, ``total_low`` and ``total_high``; empty when a group has fewer than
    :data:`MIN_PER_GROUP` prompts.
    """
    if len(first) < MIN_PER_GROUP or len(second) < MIN_PER_GROUP:
        return {}
    a, b = np.stack(first), np.stack(second)  # prompts x candidates x features
    samples = np.empty((n_resamples, *a.shape[1:]))
    per_resample = 8 * (len(a) + len(b)) * a[0].size  # the gathered shares of one resample
    size = max(1, CHUNK_BYTES // max(1, per_resample))
    for start in range(0, n_resamples, size):
        k = min(size, n_resamples - start)
        ia = rng.integers(0, len(a), size=(k, len(a)))
        ib = rng.integers(0, len(b), size=(k, len(b)))
        samples[start : start + k] = 0.5 * (a[ia].mean(axis=1) - b[ib].mean(axis=1))
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    total_low, total_high = np.percentile(samples.sum(axis=2), [tail, 100.0 - tail], axis=0)
    return {"gap_low": low, "gap_high": high, "total_low": total_low[:, None], "total_high": total_high[:, None]}


def _pair(values: Any) -> tuple[float | None, float | None]:
    low, high = (list(values or []) + [None, None])[:2]
    return finite_or_none(low), finite_or_none(high)


def estimated(entry: dict[str, Any]) -> bool:
    """Whether a candidate's slot shares can be read: they have intervals, and their total agrees with the gap.

    Agreement: the total share's interval overlaps the gap's interval (each slot swapped on its
    own need not add up to the gap exactly, but a total whose whole interval lies away from the
    gap's contradicts it).
    """
    attribution = entry.get("attribution") or {}
    totals = [finite_or_none(v) for v in (attribution.get("total_low") or []) + (attribution.get("total_high") or [])]
    if len(totals) != 2 or any(v is None for v in totals) or not attribution.get("gap_low"):
        return False
    gap_low, gap_high = _pair(entry.get("gap_ci"))
    if gap_low is None or gap_high is None:
        return False
    return totals[0] <= gap_high and gap_low <= totals[1]


def not_estimated(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The attributed candidates whose shares are not estimated (rank order)."""
    entries = sorted(result.get("candidates") or [], key=lambda e: e.get("rank") or 0)
    return [e for e in entries if (e.get("attribution") or {}).get("gap") and not estimated(e)]


def slot_count(result: dict[str, Any]) -> int:
    """How many features (slots or slot groups) the attribution has."""
    return len((result.get("attribution") or {}).get("features") or [])


def caption(result: dict[str, Any]) -> str:
    """What the slot shares mean, for the chart's caption; one-slot templates get their own explanation."""
    info = result.get("attribution") or {}
    a, b = [str(g) for g in (list(result.get("compare") or []) + ["group 1", "group 2"])[:2]]
    n = len(info.get("prompts") or [])
    method = info.get("method", "feature ablation")
    common = (
        f"For {n} of the prompts the swept values were swapped for the other group's values ({method}); each "
        f"dot is a slot's share of the candidate's gap ({a} minus {b}), on the gap's own scale, with its interval "
        f"over the attributed prompts; the black tick is the gap itself. A candidate whose shares have no interval "
        f"(fewer than {MIN_PER_GROUP} attributed prompts per group) or whose shares' total contradicts its gap is "
        "listed as not estimated instead of drawn: attribute more prompts (Prompts to attribute)."
    )
    if slot_count(result) == 1:
        return (
            f"{common} This template has one slot, so its share is the gap itself, measured again on the "
            "attributed prompts only: it says nothing about which part of the prompt carries the gap, only "
            "whether the attributed prompts agree with all of them."
        )
    return (
        f"{common} A large share on a slot means the model's association runs through that slot (for example "
        "the pronoun rather than the name). Shares need not add up to the gap: each slot is swapped on its own, "
        "so one slot's share can be larger than the whole gap when another slot pulls the other way."
    )


def not_estimated_sentence(result: dict[str, Any]) -> str | None:
    """The attributed candidates whose shares are not estimated, named in one sentence; None when there are none."""
    missing = not_estimated(result)
    if not missing:
        return None
    names = [f"\u2018{' '.join(str(e.get('text', '')).split())}\u2019" for e in missing[:8]]
    if len(missing) > 8:
        names.append(f"{len(missing) - 8} more")
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return (
        f"Slot shares not estimated for {listed}: too few attributed prompts, or the shares' total "
        "contradicts the gap measured on all prompts. Attribute more prompts to estimate them."
    )
