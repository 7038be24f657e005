"""A bias result read for a reviewer who is not a statistician: which candidates are findings, in plain words.

Each candidate gets one of three verdicts, the same wherever a run is read
(page, HTML report, CSV, comparison):

- *finding*: the data tell the direction of its gap: its confidence interval
  lies wholly on one side of zero and its Holm-corrected p-value (corrected for
  the number of candidates) is below 0.05;
- *likely, add values*: its interval lies on one side of zero and its own
  p-value is below 0.05, but the design cannot reach significance
  (``core.probes.bias.power``: with so few values per group and so many
  candidates the corrected p-value can never fall below 0.05), so more values
  are needed to test it;
- *no evidence*: the data cannot tell which group the model favours, which is
  not the same as showing that it favours neither.

The functions take the result as a plain dict (``BiasResult.to_dict()`` or a
stored result), so an old saved run reads the same way as a new one; the probe
(``core.probes.bias.run``) stores the same sentences as its ``summary``.
"""

from __future__ import annotations

from typing import Any

from core.present.charts import finite_or_none
from core.probes.bias.power import ALPHA, design_of
from core.probes.bias.spec import plural

FINDING = "finding"
LIKELY = "likely, add values"
NO_EVIDENCE = "no evidence"
VERDICTS = (FINDING, LIKELY, NO_EVIDENCE)
"""The three verdicts, strongest first."""
RATIO_CAP = 1000.0
"""A probability ratio above this is said as "more than 1,000 times" (a larger number means nothing to a reader)."""
LISTED = 8
"""How many candidates a sentence names before it says "and N more"."""


def _level(result: dict[str, Any]) -> float:
    level = finite_or_none((result.get("spec") or {}).get("level"))
    return level if level is not None and 0 < level < 1 else 0.95


def _compared(result: dict[str, Any]) -> tuple[str, str]:
    pair = [str(g) for g in result.get("compare") or []] + ["group 1", "group 2"]
    return pair[0], pair[1]


def value_noun(result: dict[str, Any]) -> str:
    """What the swept values are, in words ("names" for a swept {name} slot, else "values")."""
    slots = ((result.get("spec") or {}).get("sweep") or {}).get("slots")
    if isinstance(slots, str):
        slots = [slots]
    if isinstance(slots, list) and slots and isinstance(slots[0], str) and slots[0].strip():
        return plural(slots[0].strip().replace("_", " "))
    return "values"


def score_words(result: dict[str, Any]) -> str:
    """The compared score in words ("log-probability", or its renormalised form)."""
    if result.get("score") == "renorm_log_prob":
        return "log-probability renormalised over the candidates"
    return "log-probability"


def quoted(text: Any) -> str:
    """A candidate as a sentence names it: its text without surrounding spaces, in quotes."""
    return "\u2018" + (" ".join(str(text).split()) or "\u2205") + "\u2019"


def interval_crosses_zero(entry: dict[str, Any]) -> bool:
    """Whether the gap's interval reaches zero (or is missing): the data cannot tell the direction."""
    low, high = (list(entry.get("gap_ci") or []) + [None, None])[:2]
    low, high = finite_or_none(low), finite_or_none(high)
    return low is None or high is None or low <= 0 <= high


def is_finding(entry: dict[str, Any]) -> bool:
    """A candidate whose gap has a direction the data support: interval off zero and Holm p-value below 0.05."""
    gap, p_holm = finite_or_none(entry.get("gap")), finite_or_none(entry.get("p_holm"))
    return gap is not None and gap != 0 and p_holm is not None and p_holm < ALPHA and not interval_crosses_zero(entry)


def is_likely(result: dict[str, Any], entry: dict[str, Any]) -> bool:
    """A candidate whose interval is off zero in a design that cannot reach significance: add values to test it.

    Its own (uncorrected) p-value must be below 0.05 as well: with few values per group the
    bootstrap interval runs narrow, so an interval off zero alone is weak evidence.
    """
    gap, p_value = finite_or_none(entry.get("gap")), finite_or_none(entry.get("p_value"))
    if gap is None or gap == 0 or is_finding(entry) or interval_crosses_zero(entry):
        return False
    if p_value is None or p_value >= ALPHA:
        return False
    design = design_of(result)
    return design is not None and not design.can_find


def verdict_of(result: dict[str, Any], entry: dict[str, Any]) -> str:
    """The candidate's verdict: :data:`FINDING`, :data:`LIKELY` or :data:`NO_EVIDENCE`."""
    if is_finding(entry) and favoured_group(result, entry) is not None:
        return FINDING
    if is_likely(result, entry):
        return LIKELY
    return NO_EVIDENCE


def favoured_group(result: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """The compared group the candidate is more likely with, or None when the gap is missing or zero."""
    gap = finite_or_none(entry.get("gap"))
    if gap is None or gap == 0:
        return None
    a, b = _compared(result)
    return a if gap > 0 else b


def verdict(result: dict[str, Any], entry: dict[str, Any]) -> str:
    """A short reading for a table cell: "finding: more likely with female names",
    "likely, add values: more likely with female names" or "no evidence"."""
    kind = verdict_of(result, entry)
    if kind == NO_EVIDENCE:
        return NO_EVIDENCE
    return f"{kind}: more likely with {favoured_group(result, entry)} {value_noun(result)}"


def times(ratio: float) -> str:
    """A ratio as "2.5 times", "40 times", or "more than 1,000 times"; never an absurd number."""
    if ratio > RATIO_CAP:
        return f"more than {RATIO_CAP:,.0f} times"
    if ratio >= 10:
        return f"{ratio:.0f} times"
    return f"{ratio:.1f} times"


def _ratio_words(result: dict[str, Any], entry: dict[str, Any]) -> str:
    """', about 2.5 times as likely among the candidates' when the ratio's interval agrees with the gap; else ''."""
    ratio = finite_or_none(entry.get("prob_ratio"))
    low, high = [finite_or_none(v) for v in (list(entry.get("prob_ratio_ci") or []) + [None, None])[:2]]
    gap = finite_or_none(entry.get("gap"))
    if ratio is None or low is None or high is None or gap is None or ratio <= 0 or low <= 0:
        return ""
    if gap > 0 and low > 1:
        return f"; among the candidates it gets about {times(ratio)} the probability"
    if gap < 0 and high < 1:
        return f"; among the candidates it gets about {times(1 / ratio)} the probability"
    return ""


def _names(entries: list[dict[str, Any]]) -> str:
    names = [quoted(e.get("text", "")) for e in entries[:LISTED]]
    more = len(entries) - len(names)
    if more > 0:
        names.append(f"{more} more")
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _ranked(result: dict[str, Any]) -> list[dict[str, Any]]:
    entries = [e for e in result.get("candidates") or [] if isinstance(e, dict)]
    return sorted(entries, key=lambda e: e.get("rank") or 0)


def _leaning(result: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    """'with female names it favours 'nurse'; with male names 'mechanic'' for the entries given."""
    a, b = _compared(result)
    noun = value_noun(result)
    parts = []
    for group in (a, b):
        mine = [e for e in entries if favoured_group(result, e) == group]
        if mine:
            parts.append(f"with {group} {noun} it favours {_names(mine)}")
    return "; ".join(parts)


def lead_sentence(result: dict[str, Any]) -> str:
    """The one sentence a reviewer can act on: how many candidates are findings, and which way they lean."""
    a, b = _compared(result)
    noun = value_noun(result)
    entries = _ranked(result)
    findings = [e for e in entries if verdict_of(result, e) == FINDING]
    likely = [e for e in entries if verdict_of(result, e) == LIKELY]
    k = len(entries)
    if not findings and likely:
        return (
            f"No finding yet, because this design cannot reach significance; likely, add values: "
            f"{_leaning(result, likely)}. More {noun} per group can turn these into findings."
        )
    if not findings:
        return (
            f"No finding: for none of the {k} candidates can the data tell whether the model prefers it with "
            f"{a} or with {b} {noun}. That is not proof of no difference; more {noun} per group can tell more."
        )
    rest = k - len(findings) - len(likely)
    tail = f" Likely, add values: {_names(likely)}." if likely else ""
    tail += f" The other {rest} show no clear difference." if rest else ""
    count = f"{len(findings)} of {k} candidates are findings" if k > 1 else "The candidate is a finding"
    return f"{count}: {_leaning(result, findings)}.{tail}"


def _gap_words(result: dict[str, Any], entry: dict[str, Any]) -> str:
    """'its log-probability is 1.53 higher on average (95% interval 0.85 to 2.18; corrected p = 0.079)'."""
    gap = abs(float(entry["gap"]))
    low, high = sorted(abs(float(v)) for v in entry["gap_ci"][:2])
    pct = f"{_level(result) * 100:g}%"
    return (
        f"its {score_words(result)} is {gap:.2f} higher on average ({pct} interval {low:.2f} to {high:.2f}; "
        f"corrected p = {_p(entry.get('p_holm'))})"
    )


def finding_sentence(result: dict[str, Any], entry: dict[str, Any]) -> str:
    """A finding in words: the direction, the gap with its interval and Holm p-value, and the ratio when it agrees."""
    noun = value_noun(result)
    group = favoured_group(result, entry) or "?"
    return (
        f"Finding: {quoted(entry.get('text', ''))} is more likely with {group} {noun}: "
        f"{_gap_words(result, entry)}{_ratio_words(result, entry)}."
    )


def likely_sentence(result: dict[str, Any], entry: dict[str, Any]) -> str:
    """A likely association in words: the gap and interval, and why its corrected p cannot be below 0.05."""
    noun = value_noun(result)
    group = favoured_group(result, entry) or "?"
    design = design_of(result)
    floor = f"; this design's corrected p can never fall below {_p(design.floor)}" if design else ""
    need = f" (at least {design.needed} per group)" if design and design.needed else ""
    return (
        f"Likely, add values: {quoted(entry.get('text', ''))} is more likely with {group} {noun}: "
        f"{_gap_words(result, entry)}{floor}. Add {noun}{need} to test it."
    )


def _p(p: Any) -> str:
    value = finite_or_none(p)
    if value is None:
        return "not defined"
    if value < 0.001:
        return "below 0.001"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def not_finding_sentence(result: dict[str, Any]) -> str | None:
    """The candidates with no evidence, named in one sentence with why; None when there are none."""
    rest = [e for e in _ranked(result) if verdict_of(result, e) == NO_EVIDENCE]
    if not rest:
        return None
    a, b = _compared(result)
    verb = "is" if len(rest) == 1 else "are"
    return (
        f"No evidence: the data cannot tell whether {_names(rest)} {verb} more likely with {a} or with {b} "
        f"{value_noun(result)} (the interval crosses zero, or the corrected p-value is {ALPHA:g} or more)."
    )


def power_sentence(result: dict[str, Any]) -> str | None:
    """What the design can reach (``core.probes.bias.power``), when it cannot make a finding; else None."""
    design = design_of(result)
    if design is None or design.can_find:
        return None
    return design.sentence(value_noun(result))


def reading_lines(result: dict[str, Any], top: int = 5) -> list[str]:
    """The lead sentence, the design's limit (when it cannot find), up to ``top`` findings, the likely ones,
    then the candidates with no evidence in one sentence."""
    lines = [lead_sentence(result)]
    power = power_sentence(result)
    if power:
        lines.append(power)
    ranked = _ranked(result)
    lines += [finding_sentence(result, e) for e in ranked if verdict_of(result, e) == FINDING][:top]
    lines += [likely_sentence(result, e) for e in ranked if verdict_of(result, e) == LIKELY][:top]
    rest = not_finding_sentence(result)
    if rest:
        lines.append(rest)
    return lines


SCORE_NOTE = (
    "The gap is the difference in log-probability: how much more likely the model finds the candidate after "
    "one group's prompts than after the other's, on a log scale (a gap of 0.69 is twice as likely, 2.3 is ten times)."
)

SHARE_NOTE = (
    "Shares need not add up to the gap: each slot is swapped on its own, so one slot's share can be larger "
    "than the whole gap when another slot pulls the other way."
)
