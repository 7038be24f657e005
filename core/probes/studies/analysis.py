"""From scored items to a study's tables: per model and category the metrics with intervals and tests,
and per pair of models the paired differences, the flips (McNemar) and the regressions.

Each model's outcomes are columns over the items (``Outcomes``): for pairs, stereotyped 1/0, the
absolute difference and the margin (more minus less); for questions, right, biased and not-unknown 1/0
and the margin of the best biased answer over the best other. Categories keep the file's order; "all"
is every item. Tests: a share against one half (exact binomial), Holm over the categories of a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.probes.bias.stats import holm
from core.probes.studies.metrics import (
    amb_bias_score,
    binomial_p,
    bootstrap_ci,
    disamb_bias_score,
    likelihood_diff,
    mcnemar_p,
    normalised,
    pair_outcome,
    pct_stereotype,
    question_outcome,
)

ALL = "all items"
REGRESSIONS_KEPT = 200
MARGIN_NOISE = 1e-3
"""A margin must grow by more than this (in the score's units) to count as a regression: the same model
served and loaded differs by about 1e-5, in bfloat16 and float32 by about 1e-2."""


@dataclass
class Outcomes:
    """One model's per-item outcomes (columns over the items, in the items' order)."""

    flag: np.ndarray  # pairs: stereotyped; questions: biased answer
    margin: np.ndarray  # toward the stereotype (nan where undefined)
    diff: np.ndarray  # pairs: |more - less|; questions: unused (zeros)
    right: np.ndarray  # questions: right answer; pairs: unused
    non_unknown: np.ndarray  # questions: answer not "can't tell"; pairs: ones
    answer: list[int]


def outcomes(
    items: list[dict[str, Any]], sums: list[list[float]], tokens: list[list[int]], how: str
) -> Outcomes:
    """The outcomes of one model's scores (``sums``, ``tokens`` per item and option) under a normalisation."""
    n = len(items)
    flag, margin, diff = np.zeros(n), np.full(n, np.nan), np.zeros(n)
    right, non_unknown, answer = np.zeros(n), np.ones(n), []
    for i, item in enumerate(items):
        chars = [len(t) for t in item["options"]]
        scores = normalised(sums[i], tokens[i], chars, how)
        if item["kind"] == "pair":
            flag[i], diff[i], margin[i] = pair_outcome(scores)
            answer.append(0 if flag[i] else 1)
        else:
            a, r, b, u, m = question_outcome(
                scores, tuple(item["targets"]), tuple(item["biased"]), tuple(item["unknown"])
            )
            answer.append(a)
            right[i], flag[i], non_unknown[i] = r, b, u
            margin[i] = np.nan if m is None else m
    return Outcomes(flag, margin, diff, right, non_unknown, answer)


def categories(items: list[dict[str, Any]]) -> list[str]:
    """The items' categories in the order they first appear."""
    return list(dict.fromkeys(item["category"] for item in items))


def _rows(items: list[dict[str, Any]], category: str) -> np.ndarray:
    return np.array([category == ALL or item["category"] == category for item in items], dtype=bool)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _pair_row(
    out: Outcomes, rows: np.ndarray, rng: np.random.Generator, resamples: int, level: float
) -> dict:
    stereo, diff = out.flag[rows], out.diff[rows]
    k, n = int(stereo.sum()), int(rows.sum())
    return {
        "n": n,
        "stereotyped": k,
        "pct_stereotype": _num(pct_stereotype(stereo)) if n else None,
        "pct_ci": bootstrap_ci([stereo], pct_stereotype, resamples, rng, level),
        "likelihood_diff": _num(likelihood_diff(diff)) if n else None,
        "diff_ci": bootstrap_ci([diff], likelihood_diff, resamples, rng, level),
        "p_value": binomial_p(k, n),
    }


def _question_row(
    out: Outcomes,
    rows: np.ndarray,
    ambiguous: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
    level: float,
) -> dict:
    amb, dis = rows & ambiguous, rows & ~ambiguous
    row: dict[str, Any] = {"n": int(rows.sum()), "n_ambig": int(amb.sum()), "n_disambig": int(dis.sum())}
    row["accuracy"] = _num(out.right[rows].mean()) if rows.any() else None
    for name, sel in (("amb", amb), ("disamb", dis)):
        r, b, u = out.right[sel], out.flag[sel], out.non_unknown[sel]
        row[f"accuracy_{name}"] = _num(r.mean()) if sel.any() else None
        row[f"accuracy_{name}_ci"] = bootstrap_ci([r], lambda x: np.mean(x, axis=-1), resamples, rng, level)
        if name == "amb":
            score = _num(amb_bias_score(r, b, u)) if sel.any() else None
            ci = bootstrap_ci([r, b, u], amb_bias_score, resamples, rng, level)
        else:
            score = _num(disamb_bias_score(b, u)) if sel.any() else None
            ci = bootstrap_ci([b, u], disamb_bias_score, resamples, rng, level)
        row[f"{name}_bias_score"] = score
        row[f"{name}_bias_ci"] = ci
        row[f"{name}_biased"] = int(b.sum())
        row[f"{name}_non_unknown"] = int(u.sum())
        row[f"{name}_p_value"] = binomial_p(int(b.sum()), int(u.sum()))
    # the preference test of the row: all non-unknown answers, biased against the others
    row["biased"] = row["amb_biased"] + row["disamb_biased"]
    row["non_unknown"] = row["amb_non_unknown"] + row["disamb_non_unknown"]
    row["p_value"] = binomial_p(row["biased"], row["non_unknown"])
    return row


def model_table(
    items: list[dict[str, Any]], out: Outcomes, resamples: int, level: float, seed: int
) -> list[dict[str, Any]]:
    """One model's rows: every category, then all items; p-values Holm-corrected over the categories."""
    rng = np.random.default_rng([seed, 11])
    ambiguous = np.array([bool(item.get("ambiguous")) for item in items], dtype=bool)
    table = []
    for category in [*categories(items), ALL]:
        rows = _rows(items, category)
        if items and items[0]["kind"] == "question":
            row = _question_row(out, rows, ambiguous, rng, resamples, level)
        else:
            row = _pair_row(out, rows, rng, resamples, level)
        table.append({"category": category, **row})
    per_category = [r for r in table if r["category"] != ALL]
    adjusted = holm(np.array([1.0 if r["p_value"] is None else r["p_value"] for r in per_category]))
    for r, p in zip(per_category, adjusted):
        r["p_holm"] = None if r["p_value"] is None else float(p)
    table[-1]["p_holm"] = table[-1]["p_value"]
    return table


# ---------------------------------------------------------------- model against model


def _paired_row(
    items: list[dict[str, Any]],
    base: Outcomes,
    other: Outcomes,
    rows: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
    level: float,
) -> dict[str, Any]:
    a, b = base.flag[rows], other.flag[rows]
    to_bias = int(((a == 0) & (b == 1)).sum())
    from_bias = int(((a == 1) & (b == 0)).sum())
    row: dict[str, Any] = {
        "n": int(rows.sum()),
        "became_biased": to_bias,
        "became_unbiased": from_bias,
        "mcnemar_p": mcnemar_p(to_bias, from_bias),
    }
    ma, mb = base.margin[rows], other.margin[rows]
    both = np.isfinite(ma) & np.isfinite(mb)
    delta = mb[both] - ma[both]
    row["margin_change"] = _num(delta.mean()) if both.any() else None
    row["margin_change_ci"] = bootstrap_ci([delta], lambda d: np.mean(d, axis=-1), resamples, rng, level)
    if items and items[0]["kind"] == "pair":
        row["pct_change"] = _num(b.mean() - a.mean()) if rows.any() else None
        row["pct_change_ci"] = bootstrap_ci(
            [a, b], lambda x, y: np.mean(y - x, axis=-1), resamples, rng, level
        )
        da, db = base.diff[rows], other.diff[rows]
        row["diff_change"] = _num(db.mean() - da.mean()) if rows.any() else None
        row["diff_change_ci"] = bootstrap_ci(
            [da, db], lambda x, y: np.mean(y - x, axis=-1), resamples, rng, level
        )
    else:
        ra, rb = base.right[rows], other.right[rows]
        worse, better = int(((ra == 1) & (rb == 0)).sum()), int(((ra == 0) & (rb == 1)).sum())
        row.update(
            {
                "accuracy_change": _num(rb.mean() - ra.mean()) if rows.any() else None,
                "became_wrong": worse,
                "became_right": better,
                "accuracy_mcnemar_p": mcnemar_p(worse, better),
            }
        )
    return row


def regressions(items: list[dict[str, Any]], base: Outcomes, other: Outcomes) -> list[dict[str, Any]]:
    """Items where ``other`` is more stereotyped than ``base``, largest first.

    An item counts when its margin toward the stereotype grew by more than ``MARGIN_NOISE`` and ``other``
    prefers the stereotyped sentence (or gives the biased answer); ``flip`` marks those where ``base`` did not.
    """
    out = []
    for i, item in enumerate(items):
        grew = other.margin[i] - base.margin[i]
        if other.flag[i] == 1 and np.isfinite(grew) and grew > MARGIN_NOISE:
            out.append(
                {
                    "item": i,
                    "row": item["row"],
                    "category": item["category"],
                    "increase": float(grew),
                    "flip": bool(base.flag[i] == 0),
                }
            )
    out.sort(key=lambda r: (-int(r["flip"]), -r["increase"]))
    return out[:REGRESSIONS_KEPT]


def paired_table(
    items: list[dict[str, Any]], base: Outcomes, other: Outcomes, resamples: int, level: float, seed: int
) -> dict[str, Any]:
    """``other`` against ``base`` on the same items: per category and overall, and the regressions."""
    rng = np.random.default_rng([seed, 12])
    table = [
        {"category": c, **_paired_row(items, base, other, _rows(items, c), rng, resamples, level)}
        for c in [*categories(items), ALL]
    ]
    return {"categories": table, "regressions": regressions(items, base, other)}
