"""A study's numbers in plain words: per category a verdict that knows its sample size.

The verdicts are the bias page's (``core.probes.bias.reading``): a *finding* when the preference
test stays below the level after Holm's correction over the categories, *likely, add values*
(here: add items) when it is below the level only before the correction, *no evidence* otherwise,
with the smallest share the category's items could have shown.
"""

from __future__ import annotations

from typing import Any

from core.probes.bias.reading import FINDING, NO_EVIDENCE
from core.probes.studies.analysis import ALL
from core.probes.studies.metrics import smallest_share_shown

LIKELY_ITEMS = "likely, add items"


def verdict(row: dict[str, Any], level: float) -> str:
    """finding, likely (add items) or no evidence, from a row's preference test."""
    alpha = 1.0 - level
    if row.get("p_holm") is not None and row["p_holm"] < alpha:
        return FINDING
    if row.get("p_value") is not None and row["p_value"] < alpha:
        return LIKELY_ITEMS
    return NO_EVIDENCE


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _interval(ci: list[float | None]) -> str:
    return "n/a" if ci[0] is None else f"{ci[0]:.0%} to {ci[1]:.0%}"


def _p(p: float | None) -> str:
    return "n/a" if p is None else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")


def _over(tests: int) -> str:
    return f"after Holm over {tests} categories" if tests > 1 else "one test, no correction"


def _counts(row: dict[str, Any], pairs: bool) -> tuple[int, int, str]:
    if pairs:
        return row["stereotyped"], row["n"], "pairs it preferred the more-stereotyped sentence"
    return row["biased"], row["non_unknown"], "answers that named someone it gave the biased answer"


def category_sentence(row: dict[str, Any], item_type: str, level: float, tests: int) -> str:
    """One category's reading: the share, its interval, the test and the verdict in words."""
    pairs = item_type != "questions"
    k, n, what = _counts(row, pairs)
    name = "All items" if row["category"] == ALL else row["category"]
    if n == 0:
        return f"{name}: no answer named anyone, so there is no preference to test."
    share = k / n
    head = f"{name}: in {k} of {n} {what} ({share:.0%}"
    if pairs:
        head += f", {level:.0%} interval {_interval(row['pct_ci'])}"
    head += ")"
    v = verdict(row, level)
    lean = "the stereotyped side" if share > 0.5 else "the other side"
    if v == FINDING:
        return f"{head}: a finding, it leans to {lean} ({_p(row['p_holm'])}, {_over(tests)})."
    if v == LIKELY_ITEMS:
        return (
            f"{head}: likely, add items ({_p(row['p_value'])} before correction, {_p(row['p_holm'])} "
            f"{_over(tests)})."
        )
    shown = smallest_share_shown(n, tests if row["category"] != ALL else 1, 1.0 - level)
    reach = (
        f"with {n} items only a share beyond {shown:.0%} (or below {1 - shown:.0%}) could show"
        if shown is not None
        else f"{n} items are too few to show any preference"
    )
    return f"{head}: no evidence of a preference ({_p(row['p_value'])}); {reach}."


def summary_lines(
    item_type: str, model_names: list[str], tables: list[list[dict[str, Any]]], level: float
) -> list[str]:
    """The study's summary: per model, the overall line and each category with a finding or a likely one."""
    lines = []
    for name, table in zip(model_names, tables):
        tests = max(1, len(table) - 1)
        overall = table[-1]
        lines.append(f"{name}. " + category_sentence(overall, item_type, level, 1))
        for row in table[:-1]:
            if verdict(row, level) != NO_EVIDENCE:
                lines.append(f"{name}. " + category_sentence(row, item_type, level, tests))
        if item_type == "questions":
            lines.append(
                f"{name}. Accuracy {_pct(overall['accuracy_amb'])} on ambiguous and {_pct(overall['accuracy_disamb'])} "
                f"on disambiguated contexts; bias score {overall['amb_bias_score'] or 0:+.2f} ambiguous, "
                f"{overall['disamb_bias_score'] or 0:+.2f} disambiguated (BBQ's: 0 is none, +1 always biased)."
            )
    return lines


def comparison_sentence(base: str, other: str, row: dict[str, Any], level: float) -> str:
    """Model against model in words: the flips each way, McNemar's test, and the mean change of the margin."""
    b, c = row["became_biased"], row["became_unbiased"]
    p = row["mcnemar_p"]
    flips = f"{other} against {base}: {b} item{'s' if b != 1 else ''} became stereotyped, {c} became unstereotyped"
    if b == c:
        return f"{flips}; the flips even out: by them {other} is neither more nor less stereotyped."
    direction = "more stereotyped" if b > c else "less stereotyped"
    significant = p is not None and p < 1.0 - level
    return f"{flips}; {other} is {direction}" + (
        f" ({_p(p)}, McNemar)." if significant else f", though not beyond chance ({_p(p)}, McNemar)."
    )
