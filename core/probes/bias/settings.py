"""The bias probe's settings, declared once, and what a sweep costs.

Each setting is a :class:`~core.attribution.methods.Param`: the bias form draws
its widget from the declaration (label, help, default, bounds) and
``parse_bias_spec`` validates the spec against the same declaration.
:func:`bias_cost` counts the prompts and scores of a sweep; the form shows it
before a run and the parser refuses a sweep above :data:`MAX_SCORES` with it.
:func:`stats_problem` holds the statistics to :data:`MAX_BOOTSTRAP_CELLS` and
:data:`MAX_RESAMPLED_VALUES` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.attribution.methods import Param, methods_of_family

MAX_SCORES = 200_000  # prompts x candidates one run may score

SCORE = Param(
    "score",
    "choice",
    "log_prob",
    "Score",
    "Log-probability: how likely the model makes the candidate as a continuation. Renormalised: "
    "its share among the candidates only, so a prompt that makes every candidate less likely does not count.",
    choices=("log_prob", "renorm_log_prob"),
    choice_labels=("Log-probability of the candidate", "Renormalised over the candidates (log)"),
)
BOOTSTRAP = Param(
    "bootstrap",
    "int",
    2000,
    "Bootstrap resamples",
    "More resamples give steadier confidence intervals (and take a little longer).",
    100,
    200_000,
    step=500,
)
PERMUTATIONS = Param(
    "permutations",
    "int",
    5000,
    "Permutations",
    "For the p-values: how often the group labels are shuffled.",
    100,
    1_000_000,
    step=1000,
)
LEVEL = Param(
    "level",
    "float",
    0.95,
    "Confidence level",
    "How sure the confidence intervals are meant to be.",
    0.5,
    1.0,
    suggested=(0.9, 0.95, 0.99),
    exclusive_maximum=True,
)
SEED = Param("seed", "int", 0, "Random seed", "The same seed gives the same numbers.", 0, 2**32 - 1)
CHAT = Param(
    "chat",
    "bool",
    False,
    "Chat mode: wrap each prompt in the model's chat template",
    "For instruction-tuned models answering a question; usually off for sentence completion.",
)

# The spec's top-level settings, in the order the form shows them.
SETTINGS: tuple[Param, ...] = (SCORE, BOOTSTRAP, PERMUTATIONS, LEVEL, SEED, CHAT)

ATTRIBUTION_ENABLED = Param(
    "enabled",
    "bool",
    True,
    "Find which slot carries each gap (attribution)",
    "Swaps each slot of some prompts for the other group's values to see which slot moves the score.",
)
ATTRIBUTION_METHOD = Param(
    "method",
    "choice",
    "feature_ablation",
    "Method",
    "How the attribution is computed; each method's settings appear below it.",
    choices=tuple(m.name for m in methods_of_family("perturbation")),
)
ATTRIBUTION_TRIALS = Param(
    "trials",
    "int",
    3,
    "Swaps per prompt",
    "How many values of the other group are swapped in for each attributed prompt.",
    1,
    100,
)
ATTRIBUTION_PROMPTS = Param(
    "prompts",
    "int",
    8,
    "Prompts to attribute",
    "How many sweep prompts are attributed (half from each compared group); more cost more time.",
    1,
    1000,
)

# The settings inside the spec's ``attribution`` object (the method's own parameters
# are declared with the method, in ``core.attribution.methods``).
ATTRIBUTION_SETTINGS: tuple[Param, ...] = (
    ATTRIBUTION_ENABLED,
    ATTRIBUTION_METHOD,
    ATTRIBUTION_TRIALS,
    ATTRIBUTION_PROMPTS,
)


@dataclass(frozen=True)
class BiasCost:
    """What a bias run scores.

    Attributes:
        prompts: filled prompts (every value of every group, times each ``vary`` combination).
        candidates: candidate continuations scored after each prompt.
        attributed: prompts whose slots are attributed (0 with attribution off; at most this many).
    """

    prompts: int
    candidates: int
    attributed: int

    @property
    def scores(self) -> int:
        """Prompts x candidates: the scores of the sweep itself."""
        return self.prompts * self.candidates

    @property
    def too_many(self) -> bool:
        """Whether the sweep scores more than one run may (:data:`MAX_SCORES`)."""
        return self.scores > MAX_SCORES

    def sentence(self) -> str:
        """The cost in words, for the form ("12 prompts x 3 candidates = 36 scores, plus ...")."""
        words = f"{self.prompts:,} prompts x {self.candidates:,} candidates = {self.scores:,} scores"
        if self.attributed:
            words += f", plus the attribution of {self.attributed:,} prompts"
        return words + "."


def bias_cost(
    groups: Mapping[str, Sequence[Any]],
    vary: Mapping[str, Sequence[Any]],
    n_candidates: int,
    attribution: bool = False,
    attributed_prompts: int = ATTRIBUTION_PROMPTS.default,
) -> BiasCost:
    """The cost of a sweep: each group's values crossed with every ``vary`` list.

    Args:
        groups: group name -> its values (one entry per value of the swept slots).
        vary: slot -> the texts it takes in turn (an empty list makes no prompts).
        n_candidates: how many candidates are scored after each prompt.
        attribution: whether the slots are attributed.
        attributed_prompts: the ``prompts`` attribution setting (how many sweep prompts to attribute).
    """
    prompts = sum(len(values) for values in groups.values())
    for options in vary.values():
        prompts *= len(options)
    attributed = min(attributed_prompts, prompts) if attribution else 0
    return BiasCost(prompts=prompts, candidates=n_candidates, attributed=attributed)


# What the statistics may cost: the bootstrap keeps every resample's statistic per candidate
# (8 bytes each), and every resample reads each unit's score per candidate.
MAX_BOOTSTRAP_CELLS = 20_000_000
"""Bootstrap resamples x candidates one run may hold (160 MB of statistics)."""
MAX_RESAMPLED_VALUES = 20_000_000_000
"""Scores one run's bootstrap and permutation tests may read in all (about two minutes on two cores)."""


def resampled_values(
    group_sizes: Mapping[str, int], compare: Sequence[str], n_candidates: int, bootstrap: int, permutations: int
) -> int:
    """How many unit scores the statistics read: what ``core.probes.bias.run`` computes, counted.

    Each group's mean and probability get a bootstrap interval (two passes over its
    units); the compared pair gets two two-sample bootstraps and two permutation tests
    over both groups' units.
    """
    pair = sum(group_sizes[g] for g in compare)
    every = sum(group_sizes.values())
    return 2 * n_candidates * (bootstrap * (every + pair) + permutations * pair)


def stats_problem(
    group_sizes: Mapping[str, int], compare: Sequence[str], n_candidates: int, bootstrap: int, permutations: int
) -> str | None:
    """Why the statistics of a sweep would take too much memory or time, in one sentence; None when they fit."""
    cells = bootstrap * n_candidates
    if cells > MAX_BOOTSTRAP_CELLS:
        return (
            f"{bootstrap:,} bootstrap resamples x {n_candidates:,} candidates is more than the "
            f"{MAX_BOOTSTRAP_CELLS:,} one run may hold; lower bootstrap or use fewer candidates."
        )
    values = resampled_values(group_sizes, compare, n_candidates, bootstrap, permutations)
    if values > MAX_RESAMPLED_VALUES:
        return (
            f"the bootstrap and permutation tests would read {values:,} scores, more than the "
            f"{MAX_RESAMPLED_VALUES:,} one run may; lower bootstrap or permutations, or use fewer values or "
            "candidates."
        )
    return None
