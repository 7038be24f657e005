"""What a bias design can show: the smallest p-value it can reach, and how many values a finding needs.

A bias probe tests each candidate's gap with a two-sided permutation test over
the swept values (``core.probes.bias.stats.permutation_test``): with few values
per group every split of the values is enumerated (an exact test), so the
smallest p-value is fixed by the design, not by the model. Five values per group
have 252 splits; a gap with every prompt of one group above every prompt of the
other is the most extreme split there is, and its mirror is as extreme, so its
p-value is 2/252 = 0.0079. Holm's correction over 10 candidates multiplies the
smallest p-value by 10: 0.079, which can never fall below 0.05. Such a design
cannot make a finding whatever the model does; this module says so before the
run (the bias form) and after it (``core.probes.bias.reading``).

The correction is Holm's over the candidates (what the probe applies); its first
step multiplies the smallest p-value by the number of candidates, so a design
reaches significance only when that product is below :data:`ALPHA`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Any

from core.present.charts import finite_or_none
from core.probes.bias.settings import PERMUTATIONS

ALPHA = 0.05
"""A candidate is a finding when its corrected p-value is below this."""
MOST_VALUES = 1000
"""The search for the values a finding needs stops here (a larger design is not a suggestion)."""


def smallest_p(n_a: int, n_b: int, permutations: int) -> float:
    """The smallest two-sided permutation p-value two groups of ``n_a`` and ``n_b`` values can give.

    Exact test (every split counted, when there are at most ``permutations`` splits): the
    most extreme split over all of them; with equal groups its mirror is as extreme, so 2
    splits. Random shuffles otherwise: (1 + 0) / (1 + permutations).
    """
    splits = comb(n_a + n_b, n_a)
    if splits <= permutations:
        return (2.0 if n_a == n_b else 1.0) / splits
    return 1.0 / (1.0 + permutations)


def is_exact(n_a: int, n_b: int, permutations: int) -> bool:
    """Whether the permutation test enumerates every split of the values (at most ``permutations`` of them)."""
    return comb(n_a + n_b, n_a) <= permutations


def corrected_floor(n_a: int, n_b: int, permutations: int, n_candidates: int) -> float:
    """The smallest Holm-corrected p-value the design can give: the smallest p-value times the candidates."""
    return min(1.0, max(1, n_candidates) * smallest_p(n_a, n_b, permutations))


def values_needed(n_candidates: int, permutations: int, alpha: float = ALPHA) -> int | None:
    """The fewest values per group (equal groups) whose smallest corrected p-value is below ``alpha``.

    None when no group size up to :data:`MOST_VALUES` will do (too few permutations).
    """
    for n in range(2, MOST_VALUES + 1):
        if corrected_floor(n, n, permutations, n_candidates) < alpha:
            return n
    return None


@dataclass(frozen=True)
class Design:
    """The numbers that bound what a bias run can find.

    Attributes:
        n_a / n_b: values in the two compared groups.
        permutations: the permutation test's setting.
        candidates: how many candidates share the correction.
        alpha: the corrected p-value a finding must be below.
    """

    n_a: int
    n_b: int
    permutations: int
    candidates: int
    alpha: float = ALPHA

    @property
    def smallest_p(self) -> float:
        """The smallest p-value the permutation test can give."""
        return smallest_p(self.n_a, self.n_b, self.permutations)

    @property
    def floor(self) -> float:
        """The smallest corrected p-value the design can give."""
        return corrected_floor(self.n_a, self.n_b, self.permutations, self.candidates)

    @property
    def can_find(self) -> bool:
        """Whether any candidate can be a finding (the corrected floor is below ``alpha``)."""
        return self.floor < self.alpha

    @property
    def needed(self) -> int | None:
        """The fewest values per group a finding needs at this correction (None: raise permutations)."""
        return values_needed(self.candidates, self.permutations, self.alpha)

    def sentence(self, noun: str = "values") -> str:
        """The design's power in words, for the form before Run and the reading after it."""
        sizes = f"{self.n_a} {noun} per group" if self.n_a == self.n_b else f"{self.n_a} and {self.n_b} {noun}"
        cands = f"{self.candidates} candidate" + ("s" if self.candidates != 1 else "")
        how = (
            f"every one of the {comb(self.n_a + self.n_b, self.n_a):,} splits of the {noun} counted"
            if is_exact(self.n_a, self.n_b, self.permutations)
            else f"{self.permutations:,} random shuffles"
        )
        head = (
            f"With {sizes} and {cands}, the smallest p-value this design can reach is {_p(self.smallest_p)} "
            f"({how}), {_p(self.floor)} after Holm's correction for {cands}"
        )
        needed = self.needed
        if self.can_find:
            need = f" (a finding needs at least {needed} {noun} per group)" if needed else ""
            return f"{head}: below {self.alpha:g}, so a candidate can be a finding{need}."
        if needed is None:
            return (
                f"{head}, never below {self.alpha:g}: no candidate can be a finding; raise Permutations "
                f"to at least {int(self.candidates / self.alpha):,}."
            )
        return (
            f"{head}, never below {self.alpha:g}: no candidate can be a finding, whatever the model does. "
            f"A finding needs at least {needed} {noun} per group (or fewer candidates)."
        )


def _p(value: float) -> str:
    """A p-value in a sentence: two significant digits, "below 0.0001" for tiny ones."""
    if value < 1e-4:
        return "below 0.0001"
    return f"{value:.2g}" if value < 0.01 else f"{value:.3f}".rstrip("0").rstrip(".")


def design_of(result: dict[str, Any]) -> Design | None:
    """The design of a bias result dict (group sizes, permutations, candidates); None when it does not say."""
    pair = [str(g) for g in result.get("compare") or []]
    sizes = {
        str(g.get("name")): g.get("n_values") for g in result.get("groups") or [] if isinstance(g, dict)
    }
    if len(pair) != 2 or not all(isinstance(sizes.get(g), int) and sizes[g] >= 1 for g in pair):
        return None
    spec = result.get("spec") or {}
    permutations = finite_or_none(spec.get("permutations"))
    candidates = [e for e in result.get("candidates") or [] if isinstance(e, dict)]
    return Design(
        n_a=int(sizes[pair[0]]),
        n_b=int(sizes[pair[1]]),
        permutations=int(permutations) if permutations else int(PERMUTATIONS.default),
        candidates=max(1, len(candidates)),
    )


def design_of_spec(groups: dict[str, list[Any]], compare: list[str], n_candidates: int, permutations: int) -> Design:
    """The design of a spec before it runs: the compared groups' sizes, the candidates, the permutations."""
    return Design(len(groups[compare[0]]), len(groups[compare[1]]), permutations, max(1, n_candidates))


def spec_design(doc: dict[str, Any]) -> Design | None:
    """The design of a spec document the form is building (None while its groups or compare are unfinished)."""
    groups = (doc.get("sweep") or {}).get("groups") or {}
    compare = list(doc.get("compare") or [])
    candidates = doc.get("candidates") or []
    if len(compare) != 2 or any(not isinstance(groups.get(g), list) or not groups[g] for g in compare):
        return None
    if not candidates:
        return None
    permutations = doc.get("permutations")
    if not isinstance(permutations, int) or isinstance(permutations, bool) or permutations < 1:
        permutations = int(PERMUTATIONS.default)
    return design_of_spec(groups, compare, len(candidates), permutations)
